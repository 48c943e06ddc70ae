// Fault injection at the socket, for the SDK's tests: a WebSocket class (over `ws`) whose instances a
// test can make drop frames, go silent, or die. Faults stay close to what a network can do to a TCP
// stream: a connection can be cut, or go silent (a black hole: nothing in or out until it is torn
// down); acks and confirmations can be lost (they carry no order); frames are never reordered, and a
// `message` or `send` frame is never lost from the middle of a stream that keeps flowing (drop one
// with `then: 'blackhole'` or `'kill'`, as a dying connection would).
import WebSocket from 'ws';
import type { WebSocketConstructor, WebSocketLike } from '../../src/client/index.js';

export type Frame = Record<string, unknown>;

export class FaultySocket implements WebSocketLike {
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** Nothing passes either way any more (the connection went silent). */
  blackholed = false;
  readonly ws: WebSocket;

  constructor(
    readonly network: FaultyNetwork,
    url: string,
    options?: { headers?: Record<string, string> },
  ) {
    this.ws = new WebSocket(url, options);
    this.ws.on('open', () => this.onopen?.({}));
    this.ws.on('message', (data, isBinary) => {
      if (this.blackholed) return;
      const text = isBinary ? undefined : data.toString();
      if (text !== undefined) {
        const frame = JSON.parse(text) as Frame;
        network.received.push(frame);
        network.timeline.push({ at: performance.now(), direction: 'in', frame });
        if (network.takeFault('in', frame, this)) return;
      }
      this.onmessage?.({ data: text ?? data });
    });
    this.ws.on('close', (code, reason) => this.onclose?.({ code, reason: reason.toString() }));
    this.ws.on('error', (error) => this.onerror?.(error));
    network.sockets.push(this);
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: string): void {
    if (this.blackholed) return;
    const frame = JSON.parse(data) as Frame;
    this.network.sent.push(frame);
    this.network.timeline.push({ at: performance.now(), direction: 'out', frame });
    this.network.wroteFrame(frame);
    if (this.network.takeFault('out', frame, this)) return;
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  /** Cuts the connection (no close handshake): both sides see it die. */
  kill(): void {
    this.ws.terminate();
  }

  /** The client sees the server close with `code` (e.g. 4001, token expired); the connection is cut. */
  closeWith(code: number, reason = ''): void {
    const onclose = this.onclose;
    this.onclose = null;
    this.ws.terminate();
    onclose?.({ code, reason });
  }
}

interface Fault {
  readonly direction: 'in' | 'out';
  readonly match: (frame: Frame) => boolean;
  /** Applied to this many matching frames, then removed. */
  remaining: number;
  /** What happens to the matching frame's socket besides dropping the frame. */
  readonly then: 'nothing' | 'kill' | 'blackhole';
}

/** One client's network: the WebSocket class to hand to connect(), plus the faults to apply. */
export class FaultyNetwork {
  readonly sockets: FaultySocket[] = [];
  readonly sent: Frame[] = [];
  readonly received: Frame[] = [];
  /** Every frame both ways with when it passed (performance.now(), ms), in order: for tests of timing. */
  readonly timeline: { readonly at: number; readonly direction: 'in' | 'out'; readonly frame: Frame }[] = [];
  private readonly faults: Fault[] = [];
  private readonly sentWaiters = new Set<(frame: Frame) => void>();
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const network = this;
    this.WebSocket = class extends FaultySocket {
      constructor(url: string, _protocols?: string | string[], options?: { headers?: Record<string, string> }) {
        super(network, url, options);
      }
    };
  }

  /**
   * Drops the next `count` frames going `direction` that match; `then` also kills the socket or turns
   * it into a black hole at that moment (what a dying connection does to the frames after the lost one).
   */
  drop(direction: 'in' | 'out', match: (frame: Frame) => boolean, options: { count?: number; then?: Fault['then'] } = {}): void {
    this.faults.push({ direction, match, remaining: options.count ?? 1, then: options.then ?? 'nothing' });
  }

  /** The socket in use now (the newest). */
  get current(): FaultySocket | undefined {
    return this.sockets[this.sockets.length - 1];
  }

  killCurrent(): void {
    this.current?.kill();
  }

  blackholeCurrent(): void {
    if (this.current) this.current.blackholed = true;
  }

  /**
   * Resolves with the first frame the client wrote (or writes) that matches. A client writes some frames
   * on a timer (batched confirmations) with no event to wait on: this waits on the write itself.
   */
  sentFrame(match: (frame: Frame) => boolean, timeoutMs = 15_000): Promise<Frame> {
    const written = this.sent.find(match);
    if (written) return Promise.resolve(written);
    return new Promise((resolve, reject) => {
      const waiter = (frame: Frame) => {
        if (!match(frame)) return;
        clearTimeout(timer);
        this.sentWaiters.delete(waiter);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        this.sentWaiters.delete(waiter);
        reject(new Error(`timed out waiting for the client to write a matching frame; it wrote ${JSON.stringify(this.sent.slice(-5)).slice(0, 500)}`));
      }, timeoutMs);
      this.sentWaiters.add(waiter);
    });
  }

  /** @internal */
  wroteFrame(frame: Frame): void {
    for (const waiter of this.sentWaiters) waiter(frame);
  }

  /** @internal */
  takeFault(direction: 'in' | 'out', frame: Frame, socket: FaultySocket): boolean {
    const fault = this.faults.find((f) => f.direction === direction && f.match(frame));
    if (!fault) return false;
    if (--fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    if (fault.then === 'kill') setImmediate(() => socket.kill());
    if (fault.then === 'blackhole') socket.blackholed = true;
    return true;
  }
}
