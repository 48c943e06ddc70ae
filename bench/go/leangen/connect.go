package main

// Opening the pairs: TCP connects and upgrades, in batches (runner.go has the state).

// connect opens every pair, in batches of 100 so a thousand upgrades do not all wait on one accept
// queue; "connected" is emitted when the last is ready. A failure fails the run (fatal).
func (r *runner) connect() { r.connectBatch(0) }

func (r *runner) connectBatch(i int) {
	if i >= len(r.pairs) {
		emit(map[string]string{"ev": "connected"})
		return
	}
	batch := r.pairs[i:min(i+100, len(r.pairs))]
	r.batchLeft, r.batchNext = len(batch), i+len(batch)
	for _, p := range batch {
		r.connectPair(p)
	}
}

func (r *runner) pairDone() {
	r.batchLeft--
	if r.batchLeft == 0 {
		r.connectBatch(r.batchNext)
	}
}

func (r *runner) connectPair(p *pair) {
	if r.mode == modeEcho {
		r.open(p, roleEcho, p.spec.SenderToken, false, func(w *wsConn, err error) {
			if err != nil {
				fatal(err)
			}
			p.sender = w
			r.pairDone()
		})
		return
	}
	// Recipient first, so nothing the sender sends can arrive before it exists.
	r.open(p, roleRecipient, p.spec.RecipientToken, true, func(w *wsConn, err error) {
		if err != nil {
			fatal(err)
		}
		p.recipient = w
		r.open(p, roleSender, p.spec.SenderToken, true, func(w *wsConn, err error) {
			if err != nil {
				fatal(err)
			}
			p.sender = w
			r.pairDone()
		})
	})
}

// upgraded: the 101 came (frames right behind it are handled next).
func (r *runner) upgraded(w *wsConn) {
	r.conns = append(r.conns, w)
	r.openConns++
	if r.mode == modeCentrifugo {
		token := w.p.spec.SenderToken
		if w.role == roleRecipient {
			token = w.p.spec.RecipientToken
		}
		w.queue(opText, []byte(`{"id":1,"connect":{"token":"`+token+`","name":"bench"}}`))
	}
	if !w.waitReady {
		w.done(nil)
	}
}
