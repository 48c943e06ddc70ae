// A real webhook receiver for the push tests: node:http on port 0, recording every POST (raw body,
// signature header, parsed payload, the status it answered). `answer` decides each reply; waiters are
// woken by requests (events, not sleeps).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PushPayload } from '../../src/push/notification.js';

export interface ReceivedPush {
  readonly raw: string;
  readonly signature: string | undefined;
  readonly payload: PushPayload;
  /** The status answered, once answered. */
  status: number | undefined;
  readonly at: number;
}

/** A status, or a promise of one (a reply held back until the test says). */
export type Answer = (push: ReceivedPush) => number | Promise<number>;

export class PushReceiver {
  readonly received: ReceivedPush[] = [];
  answer: Answer = () => 200;
  private waiters: (() => void)[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<PushReceiver> {
    const server = createServer();
    const receiver = new PushReceiver(server);
    server.on('request', (req, res) => receiver.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/push`;
  }

  for(userId: string): ReceivedPush[] {
    return this.received.filter((push) => push.payload.userId === userId);
  }

  /** Resolves once `condition()` holds, checked at every request and answer; rejects after timeoutMs. */
  async until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received.map((p) => [p.payload.userId, p.payload.id, p.status]))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = req.headers['x-chat-signature'];
      const push: ReceivedPush = { raw, signature: Array.isArray(header) ? header[0] : header, payload: JSON.parse(raw) as PushPayload, status: undefined, at: Date.now() };
      this.received.push(push);
      this.wake();
      Promise.resolve(this.answer(push)).then((status) => {
        push.status = status;
        res.writeHead(status).end();
        this.wake();
      });
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
