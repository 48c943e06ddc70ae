package main

// The client frames this generator writes: send, delivered, and Centrifugo publish.

import (
	"strconv"
)

const hexDigits = "0123456789abcdef"

func appendHex(b []byte, v uint64, width int) []byte {
	var tmp [16]byte
	i := len(tmp)
	for v > 0 || len(tmp)-i < width {
		i--
		tmp[i] = hexDigits[v&15]
		v >>= 4
	}
	return append(b, tmp[i:]...)
}

// appendID: bodies.ts encodeMessageId: RRRRRRRR-PPPP-4xxx-8xxx-SSSSSSSSSSSS (run tag, pair, salt, seq).
func (r *runner) appendID(b []byte, p *pair, seq int) []byte {
	b = append(b, r.tag...)
	b = append(b, '-')
	b = appendHex(b, uint64(p.spec.Index&0xffff), 4)
	s := &p.salt
	b = append(b, '-', '4', s[0], s[1], s[2], '-', '8', s[3], s[4], s[5], '-')
	return appendHex(b, uint64(seq), 12)
}

// appendSendPayload: load-window.ts sendFrame(id, to, body); echo sends the same bytes.
func (r *runner) appendSendPayload(b []byte, p *pair, seq int) []byte {
	b = append(b, `{"type":"send","messageId":"`...)
	b = r.appendID(b, p, seq)
	b = append(b, `","to":"`...)
	b = append(b, p.spec.RecipientID...)
	b = append(b, `","body":"`...)
	b = append(b, r.bodies[seq%len(r.bodies)]...)
	return append(b, `"}`...)
}

func (r *runner) send(p *pair, seq int) {
	p.slot(seq)
	p.inflight++
	p.sentAt[seq] = mono()
	w := p.sender
	b, start := beginFrame(w.out)
	if r.mode == modeCentrifugo {
		// Command id = seq + 2 (1 was connect): the reply names the send without any lookup table.
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(seq+2), 10)
		b = append(b, `,"publish":{"channel":"personal:#`...)
		b = append(b, p.spec.RecipientID...)
		b = append(b, `","data":{"messageId":"`...)
		b = r.appendID(b, p, seq)
		b = append(b, `","body":"`...)
		b = append(b, r.bodies[seq%len(r.bodies)]...)
		b = append(b, `"}}}`...)
	} else {
		b = r.appendSendPayload(b, p, seq)
	}
	w.out = endFrame(b, start, opText)
	r.markDirty(w)
}

// flushDelivered: all messages of one read are confirmed in one `delivered` frame (1000 ids at most).
func (r *runner) flushDelivered(p *pair, w *wsConn) {
	from := 0
	for i := 0; i < len(p.pendEnds); i += 1000 {
		last := min(i+1000, len(p.pendEnds)) - 1
		b, start := beginFrame(w.out)
		b = append(b, `{"type":"delivered","messageIds":["`...)
		for k := i; k <= last; k++ {
			if k > i {
				b = append(b, `","`...)
			}
			b = append(b, p.pendIds[from:p.pendEnds[k]]...)
			from = p.pendEnds[k]
		}
		b = append(b, `"]}`...)
		w.out = endFrame(b, start, opText)
	}
	p.pendIds = p.pendIds[:0]
	p.pendEnds = p.pendEnds[:0]
	r.markDirty(w)
}
