// The connection lifecycle: one WebSocket at a time, replaced when it dies. It opens a socket
// (renewing a credential about to expire first), reconnects with backoff (at once after a deliberate
// drop, or when the network comes back) and replaces a socket that went silent without closing. What
// travels on the socket is the other parts' business: they write through write() and hear of the
// socket's life through the hooks. The client's state lives here because the socket's life drives it.
import { Backoff } from '../backoff.js';
import { decodeServerFrame, encodeClientFrame, type OutgoingFrame, type ServerFrame } from '../protocol/client-codec.js';
import type { Report } from './client-error.js';
import type { Session } from './session.js';
import type { ClientErrorCode, ClientState, WebSocketConstructor, WebSocketLike } from './types.js';
import { watchUpgradeRefusal, type UpgradeRefusal } from './upgrade-refusal.js';

const OPEN = 1;

/**
 * Upgrade refusals no retry can change, so the client ends: 400, a parameter the server will never
 * take (an `ackDelayMs` over its ACK_DELAY_MAX_MS). A 401 is the credential's business (refused hook),
 * 429 and 503 pass with time.
 */
const PERMANENT_REFUSALS: ReadonlyMap<number, ClientErrorCode> = new Map([[400, 'bad_request']]);

type Timer = ReturnType<typeof setTimeout>;

export interface SocketHooks {
  state(state: ClientState): void;
  /** A new socket is open: write what waits. */
  opened(): void;
  frame(frame: ServerFrame): void;
  /** The socket is gone. */
  closed(): void;
  /** The server closed with 4001: the token expired while connected. */
  tokenExpired(): void;
  /** A socket closed before it opened: the credential may have been refused. */
  refused(): void;
  /** The credential was refused for good, the user banned, or the upgrade refused for good: the client ends. */
  failed(message: string, code?: ClientErrorCode): void;
  report: Report;
  /** When the oldest send still unanswered on socket `generation` was written (ms), if there is one. */
  oldestUnansweredAt(generation: number): number | undefined;
}

export interface SocketOptions {
  readonly url: string;
  readonly WebSocket: WebSocketConstructor;
  readonly ackTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly connectTimeoutMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A socket that stayed up this long after its `ready` resets the backoff when it closes. */
  readonly resetAfterMs: number;
  /** The URL asks for `?batch=1` (protocol v1.4): a text frame may hold several frames, newline-separated. */
  readonly batch: boolean;
}

export class ReconnectingSocket {
  private currentState: ClientState = 'connecting';
  private socket: WebSocketLike | undefined;
  /** Increments with every socket; events from an older socket are ignored. */
  private socketId = 0;
  private socketOpened = false;
  /** Why the server refused the current socket's upgrade, when the runtime could tell (Node `ws`). */
  private refusal: UpgradeRefusal | undefined;
  private closedForGood = false;
  private offline = false;
  private reconnectAtOnce = false;
  private readonly backoff: Backoff;
  private readonly timers: { reconnect?: Timer; connect?: Timer; liveness?: ReturnType<typeof setInterval> } = {};
  /** When the current socket last delivered a frame, and when a heartbeat `sync` went out unanswered. */
  private lastFrameAt = 0;
  private heartbeatSentAt: number | undefined;
  /** When the current socket's first `ready` came (0: none yet). */
  private readyAt = 0;

  constructor(
    private readonly options: SocketOptions,
    private readonly session: Session,
    private readonly hooks: SocketHooks,
  ) {
    this.backoff = new Backoff(options.initialDelayMs, options.maxDelayMs);
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** Which socket is the current one (a send remembers the one it was written on). */
  get generation(): number {
    return this.socketId;
  }

  get closed(): boolean {
    return this.closedForGood;
  }

  /** Writes a frame on the current socket; false when there is no open socket to write on. */
  write(frame: OutgoingFrame): boolean {
    const socket = this.socket;
    if (!socket || !this.socketOpened || socket.readyState !== OPEN) return false;
    try {
      socket.send(encodeClientFrame(frame));
      return true;
    } catch {
      return false;
    }
  }

  async open(): Promise<void> {
    if (this.closedForGood || this.offline) return;
    clearTimeout(this.timers.reconnect);
    const id = ++this.socketId;
    this.socketOpened = false;
    this.setState('connecting');
    const stale = () => id !== this.socketId || this.closedForGood || this.offline;
    // A credential about to expire is renewed first; a refused one ends the client.
    if (this.session.expiresWithin(2000)) {
      const renewed = await this.session.refresh();
      if (stale()) return;
      if (renewed === 'unauthorized') return this.hooks.failed('Session expired; log in again');
    }
    let socket: WebSocketLike;
    try {
      const headers = await this.session.upgradeHeaders();
      if (stale()) return;
      socket = this.session.mode === 'bearer' ? new this.options.WebSocket(this.options.url, undefined, { headers }) : new this.options.WebSocket(this.options.url);
    } catch (error) {
      if (stale()) return;
      this.hooks.report('unavailable', `Could not open a socket: ${(error as Error).message}`, true);
      return this.scheduleReconnect();
    }
    this.socket = socket;
    this.refusal = undefined;
    watchUpgradeRefusal(socket, (refusal) => {
      if (id === this.socketId) this.refusal = refusal;
    });
    this.timers.connect = setTimeout(() => {
      if (id === this.socketId && !this.socketOpened) this.drop(1000, 'connect timeout', false);
    }, this.options.connectTimeoutMs);
    socket.onopen = () => {
      if (id !== this.socketId) return;
      clearTimeout(this.timers.connect);
      this.socketOpened = true;
      this.lastFrameAt = Date.now();
      this.heartbeatSentAt = undefined;
      this.setState('open');
      this.hooks.opened();
      const { ackTimeoutMs, heartbeatMs } = this.options;
      const period = Math.max(50, Math.min(1000, ackTimeoutMs / 4, heartbeatMs > 0 ? heartbeatMs / 4 : Infinity));
      this.timers.liveness = setInterval(() => this.checkLiveness(), period);
    };
    socket.onmessage = (event) => {
      if (id !== this.socketId) return;
      this.lastFrameAt = Date.now();
      this.heartbeatSentAt = undefined;
      if (typeof event.data !== 'string') return;
      if (!this.options.batch) return this.received(event.data);
      for (const text of event.data.split('\n')) {
        if (id !== this.socketId) return; // a frame before this one dropped the socket
        this.received(text);
      }
    };
    socket.onclose = (event) => {
      if (id === this.socketId) this.socketClosed(event.code);
    };
    socket.onerror = () => {}; // a close event follows
  }

  /** One frame from the server (v1.4: one line of a text frame). */
  private received(text: string): void {
    const frame = decodeServerFrame(text);
    if (!frame) return;
    if (frame.type === 'ready') {
      this.readyAt ||= Date.now();
      this.setState('ready');
    }
    this.hooks.frame(frame);
  }

  /** Drops the current socket and connects again at once; waiting for a reconnect, connects now. */
  reconnect(): void {
    if (this.closedForGood) return;
    if (this.socket) return this.drop(1000, 'reconnect', true);
    if (this.currentState === 'reconnecting') void this.open();
  }

  /** Connects at once if socket `generation` (refused for a credential since renewed) is still the last one tried. */
  retryRefused(generation: number): void {
    if (generation === this.socketId && this.currentState === 'reconnecting') void this.open();
  }

  /** Waiting for something (a credential) before the next socket. */
  waitToReconnect(): void {
    this.setState('reconnecting');
  }

  scheduleReconnect(): void {
    if (this.closedForGood || this.offline) return;
    this.setState('reconnecting');
    clearTimeout(this.timers.reconnect);
    this.timers.reconnect = setTimeout(() => void this.open(), this.backoff.next());
  }

  /** The network is gone (browsers): no socket, no attempts, until back online. */
  goOffline(): void {
    this.offline = true;
    clearTimeout(this.timers.reconnect);
    if (this.socket) this.drop(1000, 'offline', false);
    this.setState('offline');
  }

  /** Offline from the start: the first attempt waits for the network. */
  startOffline(): void {
    this.offline = true;
  }

  goOnline(): void {
    if (!this.offline || this.closedForGood) return;
    this.offline = false;
    this.backoff.reset();
    void this.open();
  }

  /** Ends for good: the socket is closed, no further attempt is made, the state turns `closed`. */
  close(): void {
    if (this.closedForGood) return;
    this.closedForGood = true;
    this.drop(1000, 'client closed', false);
    clearTimeout(this.timers.reconnect);
    clearTimeout(this.timers.connect);
    clearInterval(this.timers.liveness);
    this.setState('closed');
  }

  /** Closes the current socket without waiting for the close handshake (a dead peer may never answer). */
  private drop(code: number, reason: string, reconnectAtOnce: boolean): void {
    const socket = this.socket;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    try {
      socket.close(code, reason);
    } catch {
      // already closing
    }
    this.reconnectAtOnce = reconnectAtOnce;
    this.socketClosed(code);
  }

  private socketClosed(code: number): void {
    const opened = this.socketOpened;
    // Not at `ready`: a server that says ready and closes would be reconnected to at the initial delay forever.
    if (this.readyAt && Date.now() - this.readyAt >= this.options.resetAfterMs) this.backoff.reset();
    this.readyAt = 0;
    this.socket = undefined;
    this.socketOpened = false;
    clearTimeout(this.timers.connect);
    clearInterval(this.timers.liveness);
    this.hooks.closed();
    if (this.closedForGood) return;
    if (this.offline) return this.setState('offline');
    if (code === 4001) return this.hooks.tokenExpired();
    // Banned (server API): reconnecting would only be refused; the client ends and says why.
    if (code === 4003) return this.hooks.failed('This user is banned (the server closed with 4003)', 'banned');
    const refusal = opened ? undefined : this.refusal;
    this.refusal = undefined;
    const permanent = refusal && PERMANENT_REFUSALS.get(refusal.status);
    if (permanent) return this.hooks.failed(refusal.message, permanent);
    if (!opened) this.hooks.refused();
    if (this.reconnectAtOnce) {
      this.reconnectAtOnce = false;
      return void this.open();
    }
    this.scheduleReconnect();
  }

  /**
   * A send unanswered for ackTimeoutMs means the socket is dead or stuck: move to a new one. A socket
   * silent for heartbeatMs gets a `sync` (the one request protocol v1 always answers, with `ready`);
   * no frame within ackTimeoutMs after it means the connection went silent without closing.
   */
  private checkLiveness(): void {
    const now = Date.now();
    const { ackTimeoutMs, heartbeatMs } = this.options;
    const oldest = this.hooks.oldestUnansweredAt(this.socketId);
    if (oldest !== undefined && now - oldest > ackTimeoutMs) return this.drop(4000, 'ack timeout', true);
    if (this.heartbeatSentAt !== undefined) {
      if (now - this.heartbeatSentAt > ackTimeoutMs) this.drop(4000, 'heartbeat timeout', true);
      return;
    }
    if (heartbeatMs > 0 && now - this.lastFrameAt > heartbeatMs && this.write({ type: 'sync' })) this.heartbeatSentAt = now;
  }

  private setState(state: ClientState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.hooks.state(state);
  }
}
