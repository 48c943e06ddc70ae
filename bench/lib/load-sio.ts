// Socket.IO baseline load for one thread: N clients (WebSocket transport
// only, no long-polling upgrade dance), each keeps W `send` emits in flight
// and emits a new one when an ack callback fires - same shape as the chat load.

import { io, type Socket } from 'socket.io-client';
import { encodeMessageId, idSalt, makeBodyPool } from './bodies.js';
import { Counters, epochNow, waitUntil, type PairSpec, type ThreadConfig, type ThreadResult, type ThreadRunner } from './load-types.js';
import { Pacer, pumpRoundRobin } from './pacer.js';

interface SioAck {
  status?: string;
  messageId?: string;
}

class Client {
  socket!: Socket;
  inflight = 0;
  seq = 0;
  readonly salt = idSalt();
  constructor(readonly spec: PairSpec) {}
}

export class SocketIoRunner implements ThreadRunner {
  private readonly c = new Counters();
  private readonly clients: Client[];
  private readonly bodies: string[];
  private remaining = 0;
  private stopping = false;
  private pacer: Pacer | undefined;
  private resolveFinished!: () => void;
  readonly finished = new Promise<void>((r) => (this.resolveFinished = r));

  constructor(private readonly cfg: ThreadConfig) {
    this.clients = cfg.pairs.map((p) => new Client(p));
    this.bodies = makeBodyPool(cfg.bodyMin, cfg.bodyMax);
  }

  async connect(): Promise<void> {
    await Promise.all(this.clients.map((k) => this.open(k)));
  }

  private open(k: Client): Promise<void> {
    // forceNew: without it every io(url) shares one Manager, i.e. ONE
    // connection multiplexed for all clients - not the load shape we want.
    k.socket = io(this.cfg.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: this.cfg.connectTimeoutMs,
      auth: k.spec.senderToken ? { token: k.spec.senderToken } : {},
    });
    return new Promise((resolve, reject) => {
      k.socket.once('connect', () => resolve());
      k.socket.once('connect_error', (e) => reject(new Error(`socket.io connect failed: ${e.message}`)));
      k.socket.on('disconnect', (reason) => {
        if (!this.stopping) this.c.error(`disconnect-${reason}`);
      });
    });
  }

  start(budget: number): void {
    this.remaining = budget;
    if (this.cfg.ratePerSec) {
      let from = 0;
      this.pacer = new Pacer(this.cfg.ratePerSec, () => {
        pumpRoundRobin(this.clients, from++, (k) => this.canSend(k), (k) => this.sendOne(k));
        this.checkFinished();
      });
      this.pacer.start();
    }
    for (const k of this.clients) this.pump(k);
    this.checkFinished();
  }

  private canSend(k: Client): boolean {
    return k.inflight < this.cfg.window && this.remaining > 0 && !this.stopping && (this.pacer === undefined || this.pacer.due() > 0);
  }

  private pump(k: Client): void {
    while (this.canSend(k)) this.sendOne(k);
  }

  private sendOne(k: Client): void {
    this.pacer?.take();
    this.remaining--;
    const seq = k.seq++;
    const messageId = encodeMessageId(this.cfg.tag, k.spec.index, seq, k.salt);
    const body = this.bodies[seq % this.bodies.length]!;
    k.inflight++;
    this.c.sent++;
    const t0 = performance.now();
    k.socket.emit('send', { messageId, to: k.spec.recipientId, body }, (ack: SioAck) => {
      this.c.ack.recordMs(performance.now() - t0);
      if (ack?.status !== 'SENT' || ack.messageId !== messageId) this.c.error('bad-ack');
      this.c.acked++;
      this.c.lastEventAt = epochNow();
      k.inflight--;
      this.pump(k);
      this.checkFinished();
    });
  }

  private checkFinished(): void {
    if (this.remaining <= 0 && this.clients.every((k) => k.inflight === 0)) this.resolveFinished();
  }

  async stop(): Promise<ThreadResult> {
    this.stopping = true;
    this.pacer?.stop();
    this.c.backlogMaxMs = this.pacer?.backlogMaxMs ?? 0;
    await waitUntil(() => this.clients.every((k) => k.inflight === 0), this.cfg.drainMs);
    for (const k of this.clients) this.c.unacked += k.inflight;
    return this.c.toResult();
  }

  async close(): Promise<void> {
    this.stopping = true;
    for (const k of this.clients) k.socket?.disconnect();
  }
}
