// Socket.IO baseline load for one thread: N clients (WebSocket transport
// only, no long-polling upgrade dance), each keeps W `send` emits in flight
// and emits a new one when an ack callback fires - same shape as the chat load.

import { io, type Socket } from 'socket.io-client';
import { epochNow, type ThreadConfig } from './load-types.js';
import { Sender, WindowedRunner } from './load-window.js';

interface SioAck {
  status?: string;
  messageId?: string;
}

class Client extends Sender {
  socket!: Socket;
  inflight = 0;
}

export class SocketIoRunner extends WindowedRunner<Client> {
  constructor(cfg: ThreadConfig) {
    super(cfg, (p) => new Client(p));
  }

  async connect(): Promise<void> {
    await Promise.all(this.senders.map((k) => this.open(k)));
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

  protected send(k: Client, _seq: number, messageId: string, body: string): void {
    k.inflight++;
    const t0 = performance.now();
    k.socket.emit('send', { messageId, to: k.spec.recipientId, body }, (ack: SioAck) => {
      this.c.ack.recordMs(performance.now() - t0);
      if (ack?.status !== 'SENT' || ack.messageId !== messageId) this.c.error('bad-ack');
      this.c.acked++;
      this.c.lastEventAt = epochNow();
      k.inflight--;
      this.refill(k);
    });
  }

  async close(): Promise<void> {
    this.stopping = true;
    for (const k of this.senders) k.socket?.disconnect();
  }
}
