package main

// Sending: load-window.ts's WindowedRunner and pacer.ts's Pacer (a 1 ms tick hands out the credit due).

import (
	"math"
)

// start: budget < 0 is no limit (Infinity).
func (r *runner) start(budget int64) {
	r.startedAt = mono()
	r.remaining = budget
	if budget < 0 {
		r.remaining = math.MaxInt64
	}
	if r.paced {
		r.t0 = mono()
		r.running = true
		r.nextTick = r.t0 + tickNs
	}
	for _, p := range r.pairs {
		r.pump(p)
	}
	r.checkFinished()
}

// tick: the Pacer's 1 ms interval.
func (r *runner) tick() {
	// The clock is read once per tick: each sendOne takes one of the sends due now.
	r.from = r.pumpRoundRobin(r.from, r.due())
	r.checkFinished()
	if b := r.due(); b > r.maxBacklog {
		r.maxBacklog = b
	}
}

// due: sends due now and not yet made.
func (r *runner) due() int64 {
	return int64(math.Floor(float64(mono()-r.t0)*r.cfg.RatePerSec/1e9)) - r.issued
}

// pumpRoundRobin: pacer.ts's, over the senders with window room.
func (r *runner) pumpRoundRobin(from int, credit int64) int {
	n := len(r.pairs)
	if n == 0 {
		return 0
	}
	next := from % n
	for progress := true; progress && credit > 0; {
		progress = false
		start := next
		for i := 0; i < n && credit > 0; i++ {
			k := (start + i) % n
			if p := r.pairs[k]; r.hasRoom(p) {
				r.sendOne(p)
				credit--
				progress = true
				next = (k + 1) % n
			}
		}
	}
	return next
}

func (r *runner) hasRoom(p *pair) bool {
	return p.inflight < r.cfg.Window && r.remaining > 0 && !r.stopping
}

func (r *runner) canSend(p *pair) bool {
	return r.hasRoom(p) && (!r.paced || r.due() > 0)
}

func (r *runner) pump(p *pair) {
	for r.canSend(p) {
		r.sendOne(p)
	}
}

func (r *runner) sendOne(p *pair) {
	if r.paced {
		r.issued++
	}
	r.remaining--
	r.c.sent++
	seq := p.nextSeq
	p.nextSeq++
	r.send(p, seq)
}

// refill: after an answer freed one of p's window slots. Paced, only the tick sends.
func (r *runner) refill(p *pair) {
	if !r.paced {
		r.pump(p)
	}
	r.checkFinished()
}

func (r *runner) idle() bool {
	for _, p := range r.pairs {
		if p.inflight != 0 {
			return false
		}
	}
	return true
}

func (r *runner) checkFinished() {
	if !r.finishedDone && r.remaining <= 0 && r.idle() {
		r.finishedDone = true
		emit(map[string]string{"ev": "finished"})
	}
}

func (r *runner) settled() bool {
	if r.mode == modeEcho {
		return r.idle()
	}
	return r.idle() && r.c.received >= r.c.acked && r.c.deliveredAcks >= r.c.acked
}

func (r *runner) countUnsettled() {
	for _, p := range r.pairs {
		if r.mode == modeEcho {
			r.c.unacked += int64(p.inflight)
			continue
		}
		for s := 0; s < p.nextSeq; s++ {
			f := p.flags[s]
			if f&(flagSentAck|flagErrored) == 0 {
				r.c.unacked++
			}
			if f&flagSentAck != 0 && f&flagReceived == 0 {
				r.c.lost++
			}
			if f&flagSentAck != 0 && f&flagDeliveredAck == 0 {
				r.c.undelivered++
			}
		}
	}
}
