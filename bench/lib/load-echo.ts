// Echo-baseline load for one thread: N connections, each keeps W frames in
// flight and sends a new one only when an echo returns - the same pacing and
// the same frame bytes as the chat load, so "server CPU per echo" of bare uWS
// can be compared with "server CPU per message" of our server.

import type WebSocket from 'ws';
import { epochNow, type ThreadConfig } from './load-types.js';
import { Sender, WindowedRunner, sendFrame } from './load-window.js';
import { closeWs, corkingSender, openWs } from './ws-connect.js';

class Conn extends Sender {
  ws!: WebSocket;
  sendToServer!: (data: string) => void;
  // Echoes come back in send order on one connection, so a FIFO of send
  // times is enough; no JSON parsing on our side (keeps the generator light).
  readonly sentAt: number[] = [];
  readonly frames: string[] = [];
  head = 0;
  get inflight(): number {
    return this.sentAt.length - this.head;
  }
}

export class EchoRunner extends WindowedRunner<Conn> {
  constructor(cfg: ThreadConfig) {
    super(cfg, (p) => new Conn(p));
  }

  async connect(): Promise<void> {
    await Promise.all(
      this.senders.map(async (k) => {
        k.ws = await openWs(this.cfg.url, {
          token: k.spec.senderToken,
          auth: this.cfg.auth,
          timeoutMs: this.cfg.connectTimeoutMs,
          onFrame: (text) => this.onEcho(k, text),
          onClose: (code) => {
            if (!this.stopping) this.c.error(`closed-${code}`);
          },
        });
        k.sendToServer = corkingSender(k.ws);
      }),
    );
  }

  protected send(k: Conn, _seq: number, id: string, body: string): void {
    const frame = sendFrame(id, k.spec.recipientId, body);
    k.frames.push(frame);
    k.sentAt.push(performance.now());
    k.sendToServer(frame);
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
    this.refill(k);
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.senders.filter((k) => k.ws).map((k) => closeWs(k.ws)));
  }
}
