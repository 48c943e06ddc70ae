// Chat-protocol load for one thread: sender i -> recipient i, W sends in flight
// per sender, paced by SENT acks; recipients answer `delivered` like a real
// client (batched per event-loop turn). Checks exactly-once delivery.
//
// Per-message bookkeeping is two typed arrays indexed by the sequence number
// encoded in the message id (see bodies.ts), so it stays cheap at 100k msg/s
// and the generator is less likely to be the bottleneck.

import type WebSocket from 'ws';
import { decodeMessageId } from './bodies.js';
import { epochNow, type ThreadConfig } from './load-types.js';
import { Sender, WindowedRunner, sendFrame } from './load-window.js';
import { closeWs, corkingSender, openWs } from './ws-connect.js';

const SENT_ACK = 1;
const DELIVERED_ACK = 2;
const RECEIVED = 4;
const ERRORED = 8;

interface Frame {
  type?: string;
  status?: string;
  messageId?: string;
  messageIds?: string[];
  code?: string | number;
  duplicate?: boolean;
}

class Pair extends Sender {
  sender!: WebSocket;
  recipient!: WebSocket;
  sendToServer!: (data: string) => void;
  ackToServer!: (data: string) => void;
  sentAt = new Float64Array(1024);
  flags = new Uint8Array(1024);
  inflight = 0;
  pendingDelivered: string[] = [];
  flushQueued = false;

  slot(seq: number): void {
    if (seq < this.flags.length) return;
    const n = Math.max(this.flags.length * 2, seq + 1);
    const sentAt = new Float64Array(n);
    sentAt.set(this.sentAt);
    const flags = new Uint8Array(n);
    flags.set(this.flags);
    this.sentAt = sentAt;
    this.flags = flags;
  }
}

export class ChatRunner extends WindowedRunner<Pair> {
  constructor(cfg: ThreadConfig) {
    super(cfg, (p) => new Pair(p));
  }

  async connect(): Promise<void> {
    await Promise.all(this.senders.map((p) => this.connectPair(p)));
  }

  // Recipient first, so nothing the sender sends can arrive before it exists.
  private async connectPair(p: Pair): Promise<void> {
    p.recipient = await this.openRetrying(p.spec.recipientToken, (f) => this.onRecipientFrame(p, f));
    p.sender = await this.openRetrying(p.spec.senderToken, (f) => this.onSenderFrame(p, f));
    p.sendToServer = corkingSender(p.sender);
    p.ackToServer = corkingSender(p.recipient);
  }

  // Retries only when asked (profiling runs: see ThreadConfig.connectRetries); each one is counted.
  private async openRetrying(token: string | undefined, handle: (f: Frame) => void): Promise<WebSocket> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.openReady(token, handle);
      } catch (e) {
        if (attempt >= (this.cfg.connectRetries ?? 0)) throw e;
        this.c.connectRetries++;
      }
    }
  }

  private async openReady(token: string | undefined, handle: (f: Frame) => void): Promise<WebSocket> {
    let ready!: () => void;
    let refused!: (e: Error) => void;
    let gotReady = false;
    const isReady = new Promise<void>((res, rej) => ((ready = res), (refused = rej)));
    isReady.catch(() => {}); // may settle before we await it; the await below still throws
    const timer = setTimeout(() => refused(new Error('no "ready" frame from server')), this.cfg.connectTimeoutMs);
    const ws = await openWs(this.cfg.url, {
      token,
      auth: this.cfg.auth,
      timeoutMs: this.cfg.connectTimeoutMs,
      onFrame: (text) => {
        let f: Frame;
        try {
          f = JSON.parse(text) as Frame;
        } catch {
          return this.c.odd('non-json');
        }
        if (f.type === 'ready' && !gotReady) {
          gotReady = true;
          return ready();
        }
        handle(f);
      },
      onClose: (code, reason) => {
        // Before "ready" this fails the connect at once (e.g. a 1008 policy close), instead of a timeout.
        if (!gotReady) return refused(new Error(`closed before "ready": ${code} ${reason}`));
        if (!this.stopping) this.c.error(`closed-${code}`);
      },
    }).catch((e: unknown) => {
      clearTimeout(timer);
      throw e;
    });
    try {
      await isReady;
    } finally {
      clearTimeout(timer);
    }
    return ws;
  }

  protected send(p: Pair, seq: number, id: string, body: string): void {
    p.slot(seq);
    p.inflight++;
    p.sentAt[seq] = performance.now();
    p.sendToServer(sendFrame(id, p.spec.recipientId, body));
  }

  private lookup(p: Pair, id: string | undefined): number {
    const d = id === undefined ? undefined : decodeMessageId(id, this.cfg.tag);
    if (!d || d.pair !== p.spec.index || d.seq >= p.nextSeq) return -1;
    return d.seq;
  }

  private onSenderFrame(p: Pair, f: Frame): void {
    const now = performance.now();
    if (f.type === 'ack') {
      const seq = this.lookup(p, f.messageId);
      if (seq < 0) return this.c.odd('foreign-id');
      const flags = p.flags[seq]!;
      const bit = f.status === 'SENT' ? SENT_ACK : f.status === 'DELIVERED' ? DELIVERED_ACK : 0;
      if (bit === 0) return this.c.odd(`ack-${f.status}`);
      if (flags & bit) return void this.c.duplicateAcks++;
      p.flags[seq] = flags | bit;
      this.c.lastEventAt = epochNow();
      if (bit === SENT_ACK) {
        this.c.acked++;
        if (f.duplicate) this.c.serverDuplicateFlags++;
        this.c.ack.recordMs(now - p.sentAt[seq]!);
        if (!(flags & ERRORED)) this.release(p);
      } else {
        this.c.deliveredAcks++;
        this.c.delivered.recordMs(now - p.sentAt[seq]!);
      }
    } else if (f.type === 'error') {
      this.c.error(String(f.code ?? 'unknown'));
      // An error for one of our sends frees its window slot; without an id we
      // cannot tell which send failed, so the slot stays taken (visible as unacked).
      const seq = this.lookup(p, f.messageId);
      if (seq >= 0 && !(p.flags[seq]! & (SENT_ACK | ERRORED))) {
        p.flags[seq] = p.flags[seq]! | ERRORED;
        this.release(p);
      }
    } else if (f.type !== 'receipt') {
      // Protocol v1.1 sends a `receipt` (coalesced per conversation and turn) to both members when a
      // confirmation advances the recipient's delivered watermark: expected, not counted.
      this.c.odd(`sender-${f.type}`);
    }
  }

  private release(p: Pair): void {
    p.inflight--;
    this.refill(p);
  }

  private onRecipientFrame(p: Pair, f: Frame): void {
    if (f.type === 'message') {
      const seq = this.lookup(p, f.messageId);
      if (seq < 0) this.c.odd('foreign-id');
      else if (p.flags[seq]! & RECEIVED) this.c.duplicated++;
      else {
        p.flags[seq] = p.flags[seq]! | RECEIVED;
        this.c.received++;
        this.c.lastEventAt = epochNow();
      }
      // A real client acknowledges whatever it got, duplicates included.
      if (f.messageId !== undefined) this.queueDelivered(p, f.messageId);
    } else if (f.type === 'error') {
      this.c.error(`recipient-${String(f.code ?? 'unknown')}`);
    } else if (f.type !== 'receipt') {
      this.c.odd(`recipient-${f.type}`); // receipts (v1.1) reach the recipient's own devices too
    }
  }

  // One `delivered` frame per event-loop turn, like a client draining its socket.
  private queueDelivered(p: Pair, id: string): void {
    p.pendingDelivered.push(id);
    if (p.flushQueued) return;
    p.flushQueued = true;
    setImmediate(() => {
      p.flushQueued = false;
      const ids = p.pendingDelivered;
      p.pendingDelivered = [];
      for (let i = 0; i < ids.length; i += 1000) {
        p.ackToServer(JSON.stringify({ type: 'delivered', messageIds: ids.slice(i, i + 1000) }));
      }
    });
  }

  /** Everything sent is settled: acked-or-errored, and acked ones received and DELIVERED-acked. */
  protected override settled(): boolean {
    const c = this.c;
    return this.idle() && c.received >= c.acked && c.deliveredAcks >= c.acked;
  }

  // Per message from the flags, not from inflight: also finds the acked ones never received or DELIVERED-acked.
  protected override countUnsettled(): void {
    for (const p of this.senders) {
      for (let s = 0; s < p.nextSeq; s++) {
        const f = p.flags[s]!;
        if (!(f & (SENT_ACK | ERRORED))) this.c.unacked++;
        if (f & SENT_ACK && !(f & RECEIVED)) this.c.lost++;
        if (f & SENT_ACK && !(f & DELIVERED_ACK)) this.c.undelivered++;
      }
    }
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.senders.flatMap((p) => [p.sender, p.recipient].filter(Boolean).map((ws) => closeWs(ws))));
  }
}
