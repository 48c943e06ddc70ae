package main

// The runner: lean-load.ts's LeanRunner on load-window.ts's WindowedRunner and pacer.ts's Pacer,
// with the same offered load (each sender sends every N/rate s; a 1 ms tick hands the credit due
// out round-robin, the walk going on where it stopped), the same ids and bodies, and the same
// exactly-once flags and tallies. Everything runs in the event loop (loop.go): no locks.

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

const (
	modeChat = iota
	modeEcho
	modeCentrifugo
)

const (
	flagSentAck      = 1
	flagDeliveredAck = 2
	flagReceived     = 4
	flagErrored      = 8
)

type pairSpec struct {
	Index          int    `json:"index"`
	SenderID       string `json:"senderId"`
	RecipientID    string `json:"recipientId"`
	SenderToken    string `json:"senderToken"`
	RecipientToken string `json:"recipientToken"`
}

type config struct {
	Mode             string     `json:"mode"` // chat | echo | centrifugo
	URL              string     `json:"url"`
	Window           int        `json:"window"`
	Pairs            []pairSpec `json:"pairs"`
	Tag              string     `json:"tag"`
	Bodies           []string   `json:"bodies"` // bodies.ts makeBodyPool(bodyMin, bodyMax)
	BodyMin          int        `json:"bodyMin"`
	BodyMax          int        `json:"bodyMax"`
	DrainMs          float64    `json:"drainMs"`
	ConnectTimeoutMs float64    `json:"connectTimeoutMs"`
	RatePerSec       float64    `json:"ratePerSec"` // 0: closed loop
}

type pair struct {
	spec      pairSpec
	salt      [6]byte
	nextSeq   int
	inflight  int
	sentAt    []int64 // monotonic ns
	flags     []uint8
	sender    *wsConn
	recipient *wsConn
	// Recipient: ids of this read's messages, confirmed in one `delivered` frame after it.
	pendIds  []byte
	pendEnds []int
	// Echo: the expected echo, rebuilt in place.
	scratch []byte
}

func (p *pair) slot(seq int) {
	if seq < len(p.flags) {
		return
	}
	n := max(len(p.flags)*2, seq+1)
	sentAt := make([]int64, n)
	copy(sentAt, p.sentAt)
	flags := make([]uint8, n)
	copy(flags, p.flags)
	p.sentAt, p.flags = sentAt, flags
}

// mark sets flag on message seq and says whether it was new: a second ack or receipt of one message
// is a duplicate, which the caller counts as its kind.
func (p *pair) mark(seq int, flag uint8) bool {
	if p.flags[seq]&flag != 0 {
		return false
	}
	p.flags[seq] |= flag
	return true
}

type counters struct {
	sent, acked, deliveredAcks, received, lost, duplicated, duplicateAcks int64
	serverDuplicateFlags, unacked, undelivered                            int64
	errors, unexpected                                                    map[string]int64
	lastEvent                                                             int64 // monotonic ns, 0: none
	ack, delivered                                                        *histogram
}

func (c *counters) error(code string) { c.errors[code]++ }
func (c *counters) odd(kind string)   { c.unexpected[kind]++ }

type runner struct {
	cfg    *config
	mode   int
	url    *url.URL
	host   string
	port   int
	path   string
	addr   *syscall.SockaddrInet4
	tag    string
	bodies [][]byte
	pairs  []*pair

	// The loop (loop.go).
	epfd              int
	byFd              []*wsConn
	rbuf              []byte
	dirty             []*wsConn
	conns             []*wsConn // upgraded, for close()
	openConns         int       // upgraded sockets not closed yet
	pending           []*wsConn // connecting, for their deadlines
	nextDeadlineCheck int64
	localSource       bool
	nextSource        int
	stdinBuf          []byte

	c         counters
	stopping  bool
	remaining int64

	// Connecting: pairs in batches of 100.
	batchLeft, batchNext int

	// The pacer (ratePerSec > 0).
	paced      bool
	running    bool
	nextTick   int64
	t0         int64
	issued     int64
	maxBacklog int64
	from       int

	startedAt    int64 // monotonic ns of the start command
	finishedDone bool

	// stop: the drain; close: waiting for the server's close.
	draining      bool
	drainDeadline int64
	backlogMs     float64
	closing       bool
	closeDeadline int64
}

var clockBase = time.Now()

// mono: monotonic ns since the process started (performance.now()).
func mono() int64 { return int64(time.Since(clockBase)) }

func newRunner(cfg *config, epfd int) (*runner, error) {
	r := &runner{cfg: cfg, tag: cfg.Tag, epfd: epfd, rbuf: make([]byte, 65536)}
	switch cfg.Mode {
	case "chat":
		r.mode = modeChat
	case "echo":
		r.mode = modeEcho
	case "centrifugo":
		r.mode = modeCentrifugo
	default:
		return nil, fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	r.url = u
	r.host = u.Hostname()
	r.port = 80
	if u.Port() != "" {
		if r.port, err = strconv.Atoi(u.Port()); err != nil {
			return nil, fmt.Errorf("bad port in %s", cfg.URL)
		}
	}
	r.path = u.EscapedPath()
	if u.RawQuery != "" {
		r.path += "?" + u.RawQuery
	}
	ip := net.ParseIP(r.host)
	if ip == nil {
		ips, err := net.LookupIP(r.host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("cannot resolve %s: %v", r.host, err)
		}
		ip = ips[0]
	}
	ip4 := ip.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("%s: IPv4 only", r.host)
	}
	r.addr = &syscall.SockaddrInet4{Port: r.port}
	copy(r.addr.Addr[:], ip4)
	r.localSource = r.host == "127.0.0.1"
	if len(cfg.Bodies) == 0 {
		cfg.Bodies = makeBodyPool(cfg.BodyMin, cfg.BodyMax, 256)
	}
	for _, b := range cfg.Bodies {
		r.bodies = append(r.bodies, []byte(b))
	}
	r.c = counters{errors: map[string]int64{}, unexpected: map[string]int64{}, ack: newHistogram(), delivered: newHistogram()}
	for _, s := range cfg.Pairs {
		p := &pair{spec: s, sentAt: make([]int64, 1024), flags: make([]uint8, 1024)}
		copy(p.salt[:], idSalt())
		r.pairs = append(r.pairs, p)
	}
	r.paced = cfg.RatePerSec > 0
	return r, nil
}
