package main

// The connection: lean-load.ts's LeanWs and openLean, on a raw non-blocking socket in the event
// loop (loop.go). Client frames are masked with the all-zero key (the payload goes as it is); the
// frames queued in one loop turn go out in one write per socket; server frames are parsed in place
// in the loop's read buffer (a partial frame is kept for the next read).

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"syscall"
)

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xa
)

const (
	roleEcho = iota
	roleSender
	roleRecipient
)

const (
	stConnecting = iota
	stUpgrading
	stOpen
	stClosed
)

type wsConn struct {
	r     *runner
	fd    int
	p     *pair
	role  int
	state int

	out     []byte // frames queued for the next write
	epOut   bool   // EPOLLOUT in the epoll mask (connecting, or a write did not take everything)
	wclosed bool   // write side shut (socket.end())
	dirty   bool   // in r.dirty: write at the end of this loop turn
	partial []byte // bytes of an incomplete upgrade answer or frame

	req       []byte // the upgrade request
	waitReady bool
	ready     bool
	deadline  int64 // mono ns: upgrade and ready must be done by then
	onDone    func(*wsConn, error)
	doneSent  bool
	closeCode int // -1: no close frame received
}

var hdrRoom [14]byte

// beginFrame reserves room for the longest header; endFrame writes the header (mask bit set, zero
// key) and closes the gap, so a payload can be appended without knowing its length first.
func beginFrame(b []byte) ([]byte, int) {
	start := len(b)
	return append(b, hdrRoom[:]...), start
}

func endFrame(b []byte, start int, op byte) []byte {
	n := len(b) - start - len(hdrRoom)
	var h [14]byte
	h[0] = 0x80 | op
	hl := 2
	switch {
	case n < 126:
		h[1] = 0x80 | byte(n)
	case n < 65536:
		h[1] = 0x80 | 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		hl = 4
	default:
		h[1] = 0x80 | 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		hl = 10
	}
	hl += 4 // the masking key: zero, so the payload goes as it is
	if gap := len(hdrRoom) - hl; gap > 0 {
		copy(b[start+hl:], b[start+len(hdrRoom):])
		b = b[:len(b)-gap]
	}
	copy(b[start:], h[:hl])
	return b
}

// queue appends one whole frame (pongs, `{}`, connect, close) to what goes out this turn.
func (w *wsConn) queue(op byte, payload []byte) {
	b, start := beginFrame(w.out)
	b = append(b, payload...)
	w.out = endFrame(b, start, op)
	w.r.markDirty(w)
}

// flush writes what is queued; what the socket does not take waits for EPOLLOUT.
func (w *wsConn) flush() {
	if len(w.out) > 0 && w.state != stClosed {
		if w.wclosed {
			w.out = w.out[:0]
		} else {
			n, err := rawWrite(w.fd, w.out)
			switch {
			case err == syscall.EAGAIN || err == syscall.EINTR:
			case err != nil:
				w.out = w.out[:0] // the read side sees the close
			default:
				w.out = w.out[:copy(w.out, w.out[n:])]
			}
		}
	}
	if want := len(w.out) > 0 && w.state != stClosed; want != w.epOut {
		w.epOut = want
		w.r.epollMod(w)
	}
}

// endWrite: the write side ends (socket.end() after a close frame).
func (w *wsConn) endWrite() {
	if !w.wclosed && w.state != stClosed {
		w.flush()
		w.wclosed = true
		_ = syscall.Shutdown(w.fd, syscall.SHUT_WR)
	}
}

func (w *wsConn) done(err error) {
	if !w.doneSent {
		w.doneSent = true
		w.onDone(w, err)
	}
}

// open starts a connection: lean-load.ts's open() and openLean(). onDone gets it once upgraded
// (waitReady: once `ready` / the connect reply came), or why not.
func (r *runner) open(p *pair, role int, token string, waitReady bool, onDone func(*wsConn, error)) {
	cf := r.mode == modeCentrifugo
	headers := ""
	if token != "" && !cf {
		headers = "Authorization: Bearer " + token + "\r\n"
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	w := &wsConn{r: r, p: p, role: role, fd: -1, waitReady: waitReady, ready: !waitReady, closeCode: -1, onDone: onDone,
		deadline: mono() + int64(r.cfg.ConnectTimeoutMs*1e6)}
	w.req = []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n", r.path, r.host, r.port, base64.StdEncoding.EncodeToString(key[:]), headers))
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		w.done(fmt.Errorf("socket: %w", err))
		return
	}
	w.fd = fd
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if r.localSource {
		// Source addresses rotate over 127.0.0.2–17: many connections stay under a per-address limit (ours: 1000).
		src := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, byte(2 + r.nextSource%16)}}
		r.nextSource++
		// As libuv does for Node's localAddress: without it, these ports in TIME-WAIT after the run
		// refuse a later listen on the same port (a bench server's uWS listen(port) failed on them).
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		if err := syscall.Bind(fd, src); err != nil {
			_ = syscall.Close(fd)
			w.done(fmt.Errorf("bind %v: %w", src.Addr, err))
			return
		}
	}
	if err := syscall.Connect(fd, r.addr); err != nil && err != syscall.EINPROGRESS {
		_ = syscall.Close(fd)
		w.done(fmt.Errorf("connect %s:%d: %w", r.host, r.port, err))
		return
	}
	w.state = stConnecting
	w.epOut = true
	r.add(w)
	r.pending = append(r.pending, w)
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
	http101  = []byte("HTTP/1.1 101")
)

// writable: the connect finished (send the upgrade request), or room for what waits to go out.
func (w *wsConn) writable() {
	if w.state == stConnecting {
		v, err := syscall.GetsockoptInt(w.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err == nil && v != 0 {
			err = syscall.Errno(v)
		}
		if err != nil {
			w.close(fmt.Errorf("connect %s:%d: %w", w.r.host, w.r.port, err))
			return
		}
		w.state = stUpgrading
		w.out = append(w.out, w.req...)
	}
	w.flush()
}

// readable: one read, as libuv does (level-triggered: what is left is reported again).
func (w *wsConn) readable() {
	r := w.r
	n, err := rawRead(w.fd, r.rbuf)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err != nil || n == 0 {
		if err == nil {
			err = errors.New("closed during upgrade")
		}
		w.close(err)
		return
	}
	data := r.rbuf[:n]
	if len(w.partial) > 0 {
		w.partial = append(w.partial, data...)
		data = w.partial
	}
	if w.state == stUpgrading {
		end := bytes.Index(data, crlfcrlf)
		if end < 0 {
			w.keep(data)
			return
		}
		status := data[:bytes.Index(data, crlf)]
		if !bytes.HasPrefix(status, http101) {
			w.close(fmt.Errorf("upgrade refused: %s", status))
			return
		}
		w.state = stOpen
		data = data[end+4:]
		r.upgraded(w)
	}
	off := w.frames(data)
	w.keep(data[off:])
	// All messages of one read are confirmed in one `delivered` frame.
	if w.role == roleRecipient && len(w.p.pendEnds) > 0 && w.state != stClosed {
		r.flushDelivered(w.p, w)
	}
}

// keep: the unparsed rest (possibly inside w.partial already) for the next read.
func (w *wsConn) keep(rest []byte) {
	w.partial = append(w.partial[:0], rest...)
}

// close: the socket is gone (EOF, error or timeout); lean-load.ts's onClose / fail.
func (w *wsConn) close(reason error) {
	if w.state == stClosed {
		return
	}
	r := w.r
	before := w.state < stOpen
	w.state = stClosed
	r.remove(w)
	if before {
		w.done(reason)
		return
	}
	r.openConns--
	code := "undefined"
	if w.closeCode >= 0 {
		code = strconv.Itoa(w.closeCode)
	}
	if !w.ready {
		w.done(fmt.Errorf("closed before ready: %s", code))
	} else if !r.stopping {
		r.c.error("closed-" + code)
	}
}

// frames handles the whole frames in b and returns where the first partial one starts.
func (w *wsConn) frames(b []byte) int {
	off, l := 0, len(b)
	for l-off >= 2 && w.state != stClosed {
		op := b[off] & 0x0f
		n := int(b[off+1] & 0x7f)
		head := 2
		if n == 126 {
			if l-off < 4 {
				break
			}
			n = int(binary.BigEndian.Uint16(b[off+2:]))
			head = 4
		} else if n == 127 {
			if l-off < 10 {
				break
			}
			n = int(binary.BigEndian.Uint64(b[off+2:]))
			head = 10
		}
		if l-off < head+n {
			break
		}
		s := off + head
		off = s + n
		switch op {
		case opText:
			w.handleText(b[s:off])
		case opPing:
			w.queue(opPong, b[s:off])
		case opClose:
			if n >= 2 {
				w.closeCode = int(binary.BigEndian.Uint16(b[s:]))
			} else {
				w.closeCode = 1005
			}
			w.endWrite()
		}
		// Fragmented frames (op 0) do not occur: servers send these small frames whole.
	}
	return off
}

var closePayload = []byte{0x03, 0xe8} // 1000
