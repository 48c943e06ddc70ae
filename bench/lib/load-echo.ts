// Echo-baseline load for one thread: N connections, each keeps W frames in
// flight and sends a new one only when an echo returns - the same pacing and
// the same frame bytes as the chat load, so "server CPU per echo" of bare uWS
// can be compared with "server CPU per message" of our server.

import type WebSocket from 'ws';
import { encodeMessageId, idSalt, makeBodyPool } from './bodies.js';
import { Counters, epochNow, waitUntil, type PairSpec, type ThreadConfig, type ThreadResult, type ThreadRunner } from './load-types.js';
import { Pacer, pumpRoundRobin } from './pacer.js';
import { closeWs, corkingSender, openWs } from './ws-connect.js';

class Conn {
  ws!: WebSocket;
  send!: (data: string) => void;
  // Echoes come back in send order on one connection, so a FIFO of send
  // times is enough; no JSON parsing on our side (keeps the generator light).
  readonly sentAt: number[] = [];
  readonly frames: string[] = [];
  head = 0;
  seq = 0;
  readonly salt = idSalt();
  constructor(readonly spec: PairSpec) {}
  get inflight(): number {
    return this.sentAt.length - this.head;
  }
}

export class EchoRunner implements ThreadRunner {
  private readonly c = new Counters();
  private readonly conns: Conn[];
  private readonly bodies: string[];
  private remaining = 0;
  private stopping = false;
  private pacer: Pacer | undefined;
  private resolveFinished!: () => void;
  readonly finished = new Promise<void>((r) => (this.resolveFinished = r));

  constructor(private readonly cfg: ThreadConfig) {
    this.conns = cfg.pairs.map((p) => new Conn(p));
    this.bodies = makeBodyPool(cfg.bodyMin, cfg.bodyMax);
  }

  async connect(): Promise<void> {
    await Promise.all(
      this.conns.map(async (k) => {
        k.ws = await openWs(this.cfg.url, {
          token: k.spec.senderToken,
          auth: this.cfg.auth,
          timeoutMs: this.cfg.connectTimeoutMs,
          onFrame: (text) => this.onEcho(k, text),
          onClose: (code) => {
            if (!this.stopping) this.c.error(`closed-${code}`);
          },
        });
        k.send = corkingSender(k.ws);
      }),
    );
  }

  start(budget: number): void {
    this.remaining = budget;
    if (this.cfg.ratePerSec) {
      let from = 0;
      this.pacer = new Pacer(this.cfg.ratePerSec, () => {
        pumpRoundRobin(this.conns, from++, (k) => this.canSend(k), (k) => this.sendOne(k));
        this.checkFinished();
      });
      this.pacer.start();
    }
    for (const k of this.conns) this.pump(k);
    this.checkFinished();
  }

  private canSend(k: Conn): boolean {
    return k.inflight < this.cfg.window && this.remaining > 0 && !this.stopping && (this.pacer === undefined || this.pacer.due() > 0);
  }

  private pump(k: Conn): void {
    while (this.canSend(k)) this.sendOne(k);
  }

  private sendOne(k: Conn): void {
    this.pacer?.take();
    this.remaining--;
    const seq = k.seq++;
    const id = encodeMessageId(this.cfg.tag, k.spec.index, seq, k.salt);
    const body = this.bodies[seq % this.bodies.length]!;
    const frame = `{"type":"send","messageId":"${id}","to":"${k.spec.recipientId}","body":"${body}"}`;
    k.frames.push(frame);
    k.sentAt.push(performance.now());
    this.c.sent++;
    k.send(frame);
  }

  private onEcho(k: Conn, text: string): void {
    if (k.inflight === 0) return this.c.odd('unsolicited');
    const i = k.head++;
    this.c.ack.recordMs(performance.now() - k.sentAt[i]!);
    // A plain string compare is cheap and catches a server that mangles frames.
    if (text !== k.frames[i]) this.c.error('echo-mismatch');
    this.c.acked++;
    this.c.lastEventAt = epochNow();
    // Compact the FIFO now and then instead of shift() per message.
    if (k.head > 4096) {
      k.sentAt.splice(0, k.head);
      k.frames.splice(0, k.head);
      k.head = 0;
    }
    this.pump(k);
    this.checkFinished();
  }

  private checkFinished(): void {
    if (this.remaining <= 0 && this.conns.every((k) => k.inflight === 0)) this.resolveFinished();
  }

  async stop(): Promise<ThreadResult> {
    this.stopping = true;
    this.pacer?.stop();
    this.c.backlogMaxMs = this.pacer?.backlogMaxMs ?? 0;
    await waitUntil(() => this.conns.every((k) => k.inflight === 0), this.cfg.drainMs);
    for (const k of this.conns) this.c.unacked += k.inflight;
    return this.c.toResult();
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.conns.filter((k) => k.ws).map((k) => closeWs(k.ws)));
  }
}
