// A real WebSocket test client (`ws`) that records every frame and lets a test wait for the next
// frame matching a predicate — events, not sleeps.
import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { type: string };

export class TestClient {
  readonly frames: Frame[] = [];
  /** Every text frame as it came (v1.4 batches hold several frames). */
  readonly texts: string[] = [];
  private waiters: { match: (frame: Frame) => boolean; resolve: (frame: Frame) => void; from: number }[] = [];
  private cursor = 0;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      this.texts.push(text);
      // A text frame holds one JSON object, or (protocol v1.4, `?batch=1`) several, newline-separated.
      // Split either way: a raw newline in a v1 frame would then fail the parse, as it should.
      for (const line of text.split('\n')) this.received(JSON.parse(line) as Frame);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  private received(frame: Frame): void {
    this.frames.push(frame);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(frame)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
  }

  static async connect(url: string, options: { token?: string; cookie?: string; origin?: string; headers?: Record<string, string> } = {}): Promise<TestClient> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.cookie) headers.cookie = options.cookie;
    if (options.origin) headers.origin = options.origin;
    const ws = new WebSocket(url, { headers });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        const refused = () => new UpgradeRefused(res.statusCode ?? 0, body, res.headers['retry-after']);
        res.once('end', () => reject(refused()));
        res.once('error', () => reject(refused()));
      });
    });
    return client;
  }

  /** Connects and waits for the replay's `ready`; returns the client and the replayed message frames. */
  static async connectReady(url: string, token: string): Promise<{ client: TestClient; replayed: Frame[] }> {
    const client = await TestClient.connect(url, { token });
    const ready = await client.next((frame) => frame.type === 'ready');
    const replayed = client.frames.slice(0, client.frames.indexOf(ready)).filter((frame) => frame.type === 'message');
    return { client, replayed };
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** The next frame (received after the previous `next` result, or any time if `anyTime`) matching `match`. */
  next(match: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const start = this.cursor;
    for (let i = start; i < this.frames.length; i++) {
      if (match(this.frames[i]!)) {
        this.cursor = i + 1;
        return Promise.resolve(this.frames[i]!);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.findIndex((w) => w.resolve === done), 1);
        reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(start)).slice(0, 500)}`));
      }, timeoutMs);
      const done = (frame: Frame) => {
        clearTimeout(timer);
        this.cursor = this.frames.indexOf(frame) + 1;
        resolve(frame);
      };
      this.waiters.push({ match, resolve: done, from: start });
    });
  }

  /** Sends a message and waits for its SENT ack (or error frame). */
  async sendMessage(messageId: string, to: string, body: string): Promise<Frame> {
    this.send({ type: 'send', messageId, to, body });
    return this.next((frame) => frame.messageId === messageId && (frame.type === 'error' || (frame.type === 'ack' && frame.status === 'SENT')));
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return this.closed;
  }

  /** Drops the TCP connection without a close handshake (a crash or network loss). */
  terminate(): Promise<{ code: number; reason: string }> {
    this.ws.terminate();
    return this.closed;
  }
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    /** The refusal's body (a JSON error), '' when there was none. */
    readonly body = '',
    /** Its Retry-After header, when it had one. */
    readonly retryAfter?: string,
  ) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

/** Expects the upgrade to be refused; resolves its status and error message. */
export async function upgradeRefusal(url: string, options: Parameters<typeof TestClient.connect>[1] = {}): Promise<{ status: number; message: string; retryAfter?: string }> {
  try {
    const client = await TestClient.connect(url, options);
    await client.close();
    return { status: 101, message: '' };
  } catch (error) {
    if (!(error instanceof UpgradeRefused)) throw error;
    const message = (JSON.parse(error.body || '{}') as { error?: { message?: string } }).error?.message ?? '';
    return { status: error.status, message, retryAfter: error.retryAfter };
  }
}

/** Expects the upgrade to be refused; resolves the HTTP status. */
export async function upgradeStatus(url: string, options: Parameters<typeof TestClient.connect>[1] = {}): Promise<number> {
  try {
    const client = await TestClient.connect(url, options);
    await client.close();
    return 101;
  } catch (error) {
    if (error instanceof UpgradeRefused) return error.status;
    throw error;
  }
}
