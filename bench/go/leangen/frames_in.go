package main

// The server's frames, read in place with index searches (no JSON decoding on the hot path), and
// the exactly-once tallies they move.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

var (
	keyMessageID  = []byte(`"messageId":"`)
	keyCode       = []byte(`"code":`)
	readyType     = []byte(`"type":"ready"`)
	cfConnectID   = []byte(`{"id":1,`)
	cfConnect     = []byte(`"connect"`)
	ackPrefix     = []byte(`{"type":"ack"`)
	receiptPrefix = []byte(`{"type":"receipt"`)
	messagePrefix = []byte(`{"type":"message"`)
	sentStatus    = []byte(`"SENT"`)
	delivStatus   = []byte(`"DELIVERED"`)
	dupTrue       = []byte(`"duplicate":true`)
	cfPing        = []byte(`{}`)
	cfPush        = []byte(`{"push":`)
	cfIDPrefix    = []byte(`{"id":`)
	cfPublish     = []byte(`,"publish"`)
	cfError       = []byte(`,"error"`)
)

// field: the value of `"key":"…"` (up to the next quote) in a flat JSON text; values never hold quotes here.
func field(t, key []byte) ([]byte, bool) {
	at := bytes.Index(t, key)
	if at < 0 {
		return nil, false
	}
	s := at + len(key)
	e := bytes.IndexByte(t[s:], '"')
	if e < 0 {
		return nil, false
	}
	return t[s : s+e], true
}

// forLines calls f with each line of t (JavaScript's split('\n')).
func forLines(t []byte, f func([]byte)) {
	for {
		i := bytes.IndexByte(t, '\n')
		if i < 0 {
			f(t)
			return
		}
		f(t[:i])
		t = t[i+1:]
	}
}

// handleText: the `handle` closure of lean-load.ts's open(): batch splitting, then ready, then the role's handler.
func (w *wsConn) handleText(t []byte) {
	r := w.r
	cf := r.mode == modeCentrifugo
	// Ours with `?batch=1` (protocol v1.4): the frames of one write in one text frame, one a line.
	if !cf && bytes.IndexByte(t, '\n') >= 0 {
		forLines(t, w.handleText)
		return
	}
	if !w.ready {
		// Ours: {"type":"ready",…}; Centrifugo: the connect reply {"id":1,"connect":{…}} (or an error).
		if (cf && bytes.HasPrefix(t, cfConnectID)) || (!cf && bytes.Contains(t, readyType)) {
			if cf && !bytes.Contains(t, cfConnect) {
				w.done(fmt.Errorf("centrifugo connect refused: %s", t[:min(len(t), 200)]))
				return
			}
			w.ready = true
			w.done(nil)
			return
		}
	}
	switch w.role {
	case roleEcho:
		r.onEcho(w.p, t)
	case roleSender:
		r.onSenderText(w, t)
	case roleRecipient:
		r.onRecipientText(w, t)
	}
}

// parseHex: parseInt(s, 16) of a prefix of hex digits; -1 when there is none.
func parseHex(s []byte) int64 {
	var v int64 = -1
	for _, c := range s {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return v
		}
		if v < 0 {
			v = 0
		}
		v = v<<4 | int64(d)
	}
	return v
}

// lookup: the seq of one of p's sends named by id (bodies.ts decodeMessageId), or -1.
func (r *runner) lookup(p *pair, id []byte, ok bool) int {
	if !ok || len(id) != 36 || !bytes.HasPrefix(id, []byte(r.tag)) {
		return -1
	}
	pr := parseHex(id[9:13])
	seq := parseHex(id[24:])
	if pr < 0 || seq < 0 || pr != int64(p.spec.Index) || seq >= int64(p.nextSeq) {
		return -1
	}
	return int(seq)
}

func (r *runner) acked(p *pair, seq int, now int64) {
	flags := p.flags[seq]
	if !p.mark(seq, flagSentAck) {
		r.c.duplicateAcks++
		return
	}
	r.c.acked++
	r.c.lastEvent = now
	r.c.ack.recordNs(now - p.sentAt[seq])
	if flags&flagErrored == 0 {
		p.inflight--
		r.refill(p)
	}
}

func (r *runner) onEcho(p *pair, t []byte) {
	now := mono()
	if p.inflight == 0 {
		r.c.odd("unsolicited")
		return
	}
	// The echo of the oldest frame in flight (echo knows no errors: its seq is nextSeq - inflight).
	seq := p.nextSeq - p.inflight
	p.scratch = r.appendSendPayload(p.scratch[:0], p, seq)
	if !bytes.Equal(t, p.scratch) {
		r.c.error("echo-mismatch")
	}
	r.acked(p, seq, now)
}

func (r *runner) onSenderText(w *wsConn, t []byte) {
	p := w.p
	now := mono()
	if r.mode == modeCentrifugo {
		// Replies may come several to a frame, one JSON object a line.
		forLines(t, func(line []byte) { r.onCentrifugoReply(w, line, now) })
		return
	}
	if bytes.HasPrefix(t, ackPrefix) {
		id, ok := field(t, keyMessageID)
		seq := r.lookup(p, id, ok)
		if seq < 0 {
			r.c.odd("foreign-id")
			return
		}
		if len(t) >= 23 && bytes.HasPrefix(t[23:], sentStatus) {
			if bytes.Contains(t, dupTrue) {
				r.c.serverDuplicateFlags++
			}
			r.acked(p, seq, now)
			return
		}
		if len(t) < 23 || !bytes.HasPrefix(t[23:], delivStatus) {
			r.c.odd("ack-other")
			return
		}
		if !p.mark(seq, flagDeliveredAck) {
			r.c.duplicateAcks++
			return
		}
		r.deliveredAck(p, seq, now)
		return
	}
	if bytes.HasPrefix(t, receiptPrefix) {
		return // v1.1 read/delivery receipts: expected, not counted
	}
	r.otherFrame("sender", p, t)
}

// onCentrifugoReply: one line of a sender's frame: `{}` (server ping), or /^\{"id":(\d+),"(publish|error)"/.
func (r *runner) onCentrifugoReply(w *wsConn, line []byte, now int64) {
	p := w.p
	if bytes.Equal(line, cfPing) {
		w.queue(opText, cfPing) // server ping → pong
		return
	}
	isPublish, isError := false, false
	id := int64(0)
	if bytes.HasPrefix(line, cfIDPrefix) {
		i := len(cfIDPrefix)
		digits := 0
		for i < len(line) && line[i] >= '0' && line[i] <= '9' {
			if id < math.MaxInt64/10-10 {
				id = id*10 + int64(line[i]-'0')
			} else {
				id = math.MaxInt64 / 2
			}
			i++
			digits++
		}
		if digits > 0 {
			rest := line[i:]
			isPublish = bytes.HasPrefix(rest, cfPublish)
			isError = bytes.HasPrefix(rest, cfError)
		}
	}
	if !isPublish && !isError {
		r.c.odd("sender-" + jsSlice(line, 40))
		return
	}
	seq := id - 2
	if seq < 0 || seq >= int64(p.nextSeq) {
		r.c.odd("foreign-id")
		return
	}
	if isError {
		code, ok := field(line, keyCode)
		if ok {
			r.c.error("publish-" + string(code))
		} else {
			r.c.error("publish-" + jsSlice(line, 60))
		}
		p.flags[seq] |= flagErrored
		p.inflight--
		r.refill(p)
		return
	}
	r.acked(p, int(seq), now)
}

func jsSlice(b []byte, n int) string { return string(b[:min(len(b), n)]) }

// jsString: String(v) of a JSON.parse'd value (undefined when absent).
func jsString(v any, present bool) string {
	if !present {
		return "undefined"
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		return "[array]"
	default:
		return "[object Object]"
	}
}

// otherFrame: neither ack nor message nor receipt: an error frame counts as an error (and frees
// its send's window slot), anything else as unexpected. JSON-decoded: this is the rare path.
func (r *runner) otherFrame(role string, p *pair, t []byte) {
	var v any
	if err := json.Unmarshal(t, &v); err != nil {
		r.c.odd("non-json")
		return
	}
	f, _ := v.(map[string]any)
	typ, hasType := f["type"]
	if s, ok := typ.(string); !ok || s != "error" {
		r.c.odd(role + "-" + jsString(typ, hasType))
		return
	}
	code, hasCode := f["code"]
	name := "unknown"
	if hasCode && code != nil {
		name = jsString(code, true)
	}
	if role == "sender" {
		r.c.error(name)
	} else {
		r.c.error(role + "-" + name)
	}
	seq := -1
	if role == "sender" {
		if id, ok := f["messageId"].(string); ok {
			seq = r.lookup(p, []byte(id), true)
		}
	}
	if seq >= 0 && p.flags[seq]&(flagSentAck|flagErrored) == 0 {
		p.flags[seq] |= flagErrored
		p.inflight--
		r.refill(p)
	}
}

func (r *runner) received(p *pair, id []byte, ok bool) {
	seq := r.lookup(p, id, ok)
	if seq < 0 {
		r.c.odd("foreign-id")
		return
	}
	if !p.mark(seq, flagReceived) {
		r.c.duplicated++
		return
	}
	r.c.received++
	now := mono()
	r.c.lastEvent = now
	if r.mode == modeCentrifugo {
		// No confirmation in Centrifugo's protocol: the push is the delivery.
		p.mark(seq, flagDeliveredAck)
		r.deliveredAck(p, seq, now)
	}
}

// deliveredAck counts message seq as delivered (ours: the DELIVERED ack; Centrifugo: the push).
func (r *runner) deliveredAck(p *pair, seq int, now int64) {
	r.c.deliveredAcks++
	r.c.delivered.recordNs(now - p.sentAt[seq])
}

func (r *runner) onRecipientText(w *wsConn, t []byte) {
	p := w.p
	if r.mode == modeCentrifugo {
		forLines(t, func(line []byte) {
			if bytes.Equal(line, cfPing) {
				w.queue(opText, cfPing)
			} else if bytes.HasPrefix(line, cfPush) {
				id, ok := field(line, keyMessageID)
				r.received(p, id, ok)
			} else {
				r.c.odd("recipient-" + jsSlice(line, 40))
			}
		})
		return
	}
	if bytes.HasPrefix(t, messagePrefix) {
		id, ok := field(t, keyMessageID)
		r.received(p, id, ok)
		// A real client acknowledges whatever it got, duplicates included: one frame per read.
		if ok {
			p.pendIds = append(p.pendIds, id...)
			p.pendEnds = append(p.pendEnds, len(p.pendIds))
		}
		return
	}
	if bytes.HasPrefix(t, receiptPrefix) {
		return
	}
	r.otherFrame("recipient", p, t)
}
