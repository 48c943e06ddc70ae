// Command leangen: the lean paced load generator of bench/lib/lean-load.ts in Go, so that the
// generator's CPU per message is well below the server's on a 2-core machine (bench/lib/go-load.ts
// builds, starts and drives it; `node --import tsx bench/paced.ts --gen go`). Standard library only.
//
// A JSON line protocol on stdin/stdout, one process per load thread:
//
//	in:  {"cmd":"connect","config":{…}}  {"cmd":"start","budget":N (-1: no limit)}  {"cmd":"stop"}  {"cmd":"close"}
//	out: {"ev":"connected"}  {"ev":"finished"}  {"ev":"result","result":{…}}  {"ev":"closed"}  {"ev":"error","message":"…"}
//
// The result's fields are load-types.ts ThreadResult's, with the histograms as their non-zero
// buckets (stats.ts layout) and lastEventMs relative to the start command (-1: no event).
// One thread runs everything (loop.go): an epoll loop over raw non-blocking sockets and stdin, as
// Node's loop is for lean-load.ts, without Go's netpoller (which reads until EAGAIN, one more read per
// wake-up) or goroutine hand-offs.
// LEANGEN_CPUPROFILE=/tmp/leangen.prof writes a pprof CPU profile of start → stop to that path + .<pid>.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"syscall"
)

type result struct {
	Sent                 int64            `json:"sent"`
	Acked                int64            `json:"acked"`
	DeliveredAcks        int64            `json:"deliveredAcks"`
	Received             int64            `json:"received"`
	Lost                 int64            `json:"lost"`
	Duplicated           int64            `json:"duplicated"`
	DuplicateAcks        int64            `json:"duplicateAcks"`
	ServerDuplicateFlags int64            `json:"serverDuplicateFlags"`
	Unacked              int64            `json:"unacked"`
	Undelivered          int64            `json:"undelivered"`
	Errors               map[string]int64 `json:"errors"`
	Unexpected           map[string]int64 `json:"unexpected"`
	ConnectRetries       int64            `json:"connectRetries"`
	Ack                  histData         `json:"ack"`
	Delivered            histData         `json:"delivered"`
	LastEventMs          float64          `json:"lastEventMs"`
	BacklogMaxMs         float64          `json:"backlogMaxMs"`
	// This process's CPU (getrusage) from start to result, µs: for cross-checking /proc.
	CPUUs int64 `json:"cpuUs"`
}

var outMu sync.Mutex

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fatal(err)
	}
	outMu.Lock()
	defer outMu.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "leangen: %v\n", err)
	emit(map[string]string{"ev": "error", "message": err.Error()})
	exit(1)
}

func cpuUs() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
}

// idSalt: bodies.ts idSalt(), 6 hex digits.
func idSalt() []byte {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

// makeBodyPool: bodies.ts makeBodyPool, for standalone use (go-load.ts passes the pool it made).
func makeBodyPool(lo, hi, size int) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
	if hi < lo {
		hi = lo
	}
	pool := make([]string, size)
	for i := range pool {
		var r [4]byte
		_, _ = rand.Read(r[:])
		n := lo + int((uint32(r[0])|uint32(r[1])<<8|uint32(r[2])<<16)%uint32(hi-lo+1))
		b := make([]byte, n)
		_, _ = rand.Read(b)
		for k := range b {
			b[k] = alphabet[int(b[k])%len(alphabet)]
		}
		pool[i] = string(b)
	}
	return pool
}

type command struct {
	Cmd    string  `json:"cmd"`
	Config *config `json:"config"`
	Budget float64 `json:"budget"`
}

var (
	theRunner *runner
	epfd      int
	cpu0      int64
)

func exit(code int) {
	pprof.StopCPUProfile()
	os.Exit(code)
}

// stopped: the result is about to go out (the CPU profile covers start → stop).
func stopped(res *result) {
	res.CPUUs = cpuUs() - cpu0
	pprof.StopCPUProfile()
}

// stdinReadable: commands, one JSON object a line, handled in the loop.
func (r *runner) stdinReadable() {
	var buf [65536]byte
	n, err := rawRead(0, buf[:])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err != nil || n == 0 {
		// stdin closed without `close`: the parent is gone.
		fmt.Fprintln(os.Stderr, "leangen: stdin closed")
		exit(1)
	}
	r.stdinBuf = append(r.stdinBuf, buf[:n]...)
	for {
		i := bytes.IndexByte(r.stdinBuf, '\n')
		if i < 0 {
			return
		}
		line := append([]byte(nil), r.stdinBuf[:i]...)
		r.stdinBuf = r.stdinBuf[:copy(r.stdinBuf, r.stdinBuf[i+1:])]
		handleCommand(line)
	}
}

func handleCommand(line []byte) {
	var c command
	if err := json.Unmarshal(line, &c); err != nil {
		fatal(fmt.Errorf("bad command: %v", err))
	}
	r := theRunner
	switch c.Cmd {
	case "connect":
		if c.Config == nil || r.cfg != nil {
			fatal(fmt.Errorf("connect: no config, or a second one"))
		}
		nr, err := newRunner(c.Config, epfd)
		if err != nil {
			fatal(err)
		}
		nr.stdinBuf = r.stdinBuf
		theRunner = nr
		nr.connect()
	case "start":
		if r.cfg == nil {
			fatal(fmt.Errorf("start before connect"))
		}
		cpu0 = cpuUs()
		if path := os.Getenv("LEANGEN_CPUPROFILE"); path != "" {
			f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
			if err != nil {
				fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fatal(err)
			}
		}
		r.start(int64(c.Budget))
	case "stop":
		if r.cfg == nil {
			fatal(fmt.Errorf("stop before connect"))
		}
		r.beginStop()
	case "close":
		if r.cfg == nil {
			emit(map[string]string{"ev": "closed"})
			exit(0)
		}
		r.beginClose()
	default:
		fatal(fmt.Errorf("unknown command %q", c.Cmd))
	}
}

func main() {
	var err error
	if epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		fatal(err)
	}
	if err := syscall.SetNonblock(0, true); err != nil {
		fatal(err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: 0}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, 0, &ev); err != nil {
		fatal(fmt.Errorf("stdin: %w", err))
	}
	// Before `connect`, an empty runner that only reads stdin.
	theRunner = &runner{epfd: epfd}
	for {
		theRunner.loopOnce()
	}
}
