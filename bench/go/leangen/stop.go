package main

// Stopping (drain, then the report) and closing.

import (
	"math"
)

// beginStop: stop sending, then (housekeeping) wait for in-flight work up to drainMs and report.
func (r *runner) beginStop() {
	r.stopping = true
	r.running = false
	if r.paced {
		r.backlogMs = math.Round(float64(r.maxBacklog)/r.cfg.RatePerSec*10000) / 10
	}
	r.drainDeadline = mono() + int64(r.cfg.DrainMs*1e6)
	r.draining = true
}

func (r *runner) finishStop() {
	r.countUnsettled()
	c := &r.c
	res := &result{
		Sent: c.sent, Acked: c.acked, DeliveredAcks: c.deliveredAcks, Received: c.received, Lost: c.lost,
		Duplicated: c.duplicated, DuplicateAcks: c.duplicateAcks, ServerDuplicateFlags: c.serverDuplicateFlags,
		Unacked: c.unacked, Undelivered: c.undelivered, Errors: copyMap(c.errors), Unexpected: copyMap(c.unexpected),
		Ack: c.ack.data(), Delivered: c.delivered.data(), LastEventMs: -1, BacklogMaxMs: r.backlogMs,
	}
	if c.lastEvent > 0 {
		res.LastEventMs = float64(c.lastEvent-r.startedAt) / 1e6
	}
	stopped(res)
	emit(map[string]any{"ev": "result", "result": res})
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// beginClose: a close frame on every open connection, the write side ended; housekeeping waits
// up to 1 s for the server's close.
func (r *runner) beginClose() {
	r.stopping = true
	r.running = false
	for _, w := range r.conns {
		if w.state == stOpen && !w.wclosed {
			w.queue(opClose, closePayload)
			w.endWrite()
		}
	}
	r.closing = true
	r.closeDeadline = mono() + 1000*tickNs
}
