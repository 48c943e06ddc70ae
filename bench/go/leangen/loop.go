package main

// The event loop: one thread, level-triggered epoll over the sockets and stdin (the commands), a
// 1 ms pacer tick, and at the end of every turn one write per socket with frames queued. As in
// Node's loop there is no locking: everything runs here. Compared with goroutines on Go's netpoller
// this saves a read per wake-up (Go reads until EAGAIN) and the scheduler's thread hand-offs.

import (
	"syscall"
)

func (r *runner) add(w *wsConn) {
	for w.fd >= len(r.byFd) {
		r.byFd = append(r.byFd, nil)
	}
	r.byFd[w.fd] = w
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(w.fd)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, w.fd, &ev); err != nil {
		fatal(err)
	}
}

func (r *runner) epollMod(w *wsConn) {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(w.fd)}
	if w.epOut {
		ev.Events |= syscall.EPOLLOUT
	}
	_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_MOD, w.fd, &ev)
}

func (r *runner) remove(w *wsConn) {
	if w.fd >= 0 {
		r.byFd[w.fd] = nil
		_ = syscall.Close(w.fd) // leaves the epoll set with it
	}
	w.out = w.out[:0]
}

func (r *runner) markDirty(w *wsConn) {
	if !w.dirty {
		w.dirty = true
		r.dirty = append(r.dirty, w)
	}
}

func (r *runner) flushDirty() {
	for i := 0; i < len(r.dirty); i++ { // flush may not add, but stay safe
		w := r.dirty[i]
		w.dirty = false
		w.flush()
	}
	r.dirty = r.dirty[:0]
}

const tickNs = int64(1e6)

var events = make([]syscall.EpollEvent, 256)

// loopOnce: one turn. The runner may be replaced by a `connect` command read in it (main.go).
func (r *runner) loopOnce() {
	{
		timeout := 10
		if r.paced && r.running {
			if d := r.nextTick - mono(); d <= 0 {
				timeout = 0
			} else {
				timeout = int((d + 999_999) / 1_000_000)
			}
		}
		n, err := rawEpollWait(r.epfd, events, timeout)
		if err != nil && err != syscall.EINTR {
			fatal(err)
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == 0 {
				r.stdinReadable()
				if theRunner != r {
					return // the `connect` command's runner takes over from the next turn
				}
				continue
			}
			if fd >= len(r.byFd) || r.byFd[fd] == nil {
				continue
			}
			w := r.byFd[fd]
			if ev.Events&syscall.EPOLLOUT != 0 {
				w.writable()
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && w.state != stClosed {
				w.readable()
			}
		}
		now := mono()
		if r.paced && r.running && now >= r.nextTick {
			r.tick()
			r.nextTick = mono() + tickNs
		}
		r.housekeeping(now)
		r.flushDirty()
	}
}

// housekeeping: connect deadlines, the drain after stop, the close.
func (r *runner) housekeeping(now int64) {
	if len(r.pending) > 0 && now >= r.nextDeadlineCheck {
		r.nextDeadlineCheck = now + 10*tickNs
		k := 0
		for _, w := range r.pending {
			if w.doneSent {
				continue
			}
			if now >= w.deadline {
				if w.state < stOpen {
					w.close(errTimeout("upgrade timed out"))
				} else {
					w.done(errTimeout("no ready / connect reply"))
				}
				continue
			}
			r.pending[k] = w
			k++
		}
		r.pending = r.pending[:k]
	}
	if r.draining && (r.settled() || now >= r.drainDeadline) {
		r.draining = false
		r.finishStop()
	}
	if r.closing && (r.openConns <= 0 || now >= r.closeDeadline) {
		for _, w := range r.conns {
			if w.state != stClosed {
				w.state = stClosed
				r.remove(w)
			}
		}
		emit(map[string]string{"ev": "closed"})
		exit(0)
	}
}

type errTimeout string

func (e errTimeout) Error() string { return string(e) }
