// The chat client: one WebSocket at a time, reconnected with backoff, carrying an outbox of unacked
// sends and a memory of messages already shown. Together with the server's promises this gives the
// application every message exactly once:
// - a send is resolved only by its SENT ack; until then it is written again (same messageId) on every
//   new socket, and the server stores a retry once;
// - a received message is handed to the application once (repeats are dropped by messageId) and
//   confirmed with batched `delivered` frames; a repeat is confirmed again, since a repeat means the
//   first confirmation was lost.
// Order per sender holds because sends go out in outbox order on one socket at a time, and a refused
// send (rate_limited, unavailable) rewinds the outbox so it and every later one go out again in order.
import { MESSAGE_ID_PATTERN, USER_ID_PATTERN } from '../protocol/ids.js';
import { Backoff, exponentialCeiling } from '../backoff.js';
import { Emitter } from './emitter.js';
import { newMessageId } from './ids.js';
import { Outbox } from './outbox.js';
import { SeenIds } from './seen.js';
import { httpBaseOf, Session } from './session.js';
import type { ClientErrorCode, ClientEvents, ClientState, ConnectOptions, SentAck, WebSocketConstructor, WebSocketLike } from './types.js';

const OPEN = 1;
const MAX_TIMER_MS = 2_147_483_647;
const MAX_CONFIRM_BATCH = 1000;
/** Refusals after which a send is simply retried: nothing was stored. */
const RETRYABLE = new Set<string>(['rate_limited', 'unavailable', 'internal']);

/** A send that failed for good, or a client-side refusal. */
export class ChatClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly messageId?: string,
  ) {
    super(message);
    this.name = 'ChatClientError';
  }
}

type Timer = ReturnType<typeof setTimeout>;

export class ChatClient extends Emitter<ClientEvents> {
  private currentState: ClientState = 'connecting';
  private socket: WebSocketLike | undefined;
  /** Increments with every socket; events from an older socket are ignored. */
  private socketId = 0;
  private socketOpened = false;
  private readonly outbox = new Outbox();
  private readonly sendPromises = new Map<string, Promise<SentAck>>();
  private readonly seen: SeenIds;
  private toConfirm: string[] = [];
  private readonly timers: { confirm?: Timer; reconnect?: Timer; connect?: Timer; refresh?: Timer; hold?: Timer; sync?: Timer; ackWatch?: ReturnType<typeof setInterval> } = {};
  private holdUntil = 0;
  private closed = false;
  private offline = false;
  private reconnectAtOnce = false;
  private readonly backoff: Backoff;
  private readonly session: Session;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly unwatchNetwork: (() => void) | undefined;
  /** When the current socket last delivered a frame, and when a heartbeat `sync` went out unanswered. */
  private lastFrameAt = 0;
  private heartbeatSentAt: number | undefined;
  private readonly options: Required<Pick<ConnectOptions, 'autoConfirm' | 'confirmDelayMs' | 'maxOutbox' | 'ackTimeoutMs' | 'connectTimeoutMs' | 'refreshBeforeExpiryMs' | 'heartbeatMs'>>;

  constructor(private readonly connectOptions: ConnectOptions) {
    super();
    const WebSocketClass = connectOptions.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketClass) throw new TypeError('No global WebSocket here (Node 20): pass { WebSocket } from the "ws" package');
    if (connectOptions.token !== undefined && !connectOptions.WebSocket) {
      throw new TypeError('A token needs a WebSocket class that sends headers (e.g. "ws"); in browsers omit the token and use the session cookie');
    }
    this.WebSocketClass = WebSocketClass;
    const globalFetch = (globalThis as { fetch?: ConnectOptions['fetch'] }).fetch;
    this.session = new Session(connectOptions.token, connectOptions.httpUrl ?? httpBaseOf(connectOptions.url), connectOptions.fetch ?? globalFetch?.bind(globalThis));
    this.seen = new SeenIds(connectOptions.dedupeSize ?? 10_000);
    this.backoff = new Backoff(connectOptions.reconnect?.initialDelayMs ?? 250, connectOptions.reconnect?.maxDelayMs ?? 15_000);
    this.options = {
      autoConfirm: connectOptions.autoConfirm ?? true,
      confirmDelayMs: connectOptions.confirmDelayMs ?? 20,
      maxOutbox: connectOptions.maxOutbox ?? 1000,
      ackTimeoutMs: connectOptions.ackTimeoutMs ?? 15_000,
      connectTimeoutMs: connectOptions.connectTimeoutMs ?? 10_000,
      refreshBeforeExpiryMs: connectOptions.refreshBeforeExpiryMs ?? 60_000,
      heartbeatMs: connectOptions.heartbeatMs ?? 60_000,
    };
    this.unwatchNetwork = connectOptions.watchNetwork === false ? undefined : this.watchNetwork();
    // Let the caller attach listeners before the first state change.
    queueMicrotask(() => void this.open());
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** Sends not yet acknowledged (they are retried until they are). */
  get pendingSends(): number {
    return this.outbox.size;
  }

  /**
   * Sends `body` to user `to`. Resolves with the SENT ack once the server has stored the message;
   * retried with the same messageId across reconnects until then. Rejects only for good (bad_request,
   * too_large, conflict, outbox_full, closed).
   */
  send(to: string, body: string, options: { messageId?: string } = {}): Promise<SentAck> {
    const messageId = options.messageId ?? newMessageId();
    const existing = this.sendPromises.get(messageId);
    if (existing) return existing;
    if (this.closed) return Promise.reject(new ChatClientError('closed', 'The client is closed', messageId));
    if (!USER_ID_PATTERN.test(to)) return Promise.reject(new ChatClientError('bad_request', '"to" must be a user id of 1-64 characters [A-Za-z0-9_.@-]', messageId));
    if (typeof body !== 'string' || body.length === 0) return Promise.reject(new ChatClientError('bad_request', '"body" must be a non-empty string', messageId));
    if (!MESSAGE_ID_PATTERN.test(messageId)) return Promise.reject(new ChatClientError('bad_request', '"messageId" must be 1-64 characters [A-Za-z0-9_-]', messageId));
    if (this.outbox.size >= this.options.maxOutbox) return Promise.reject(new ChatClientError('outbox_full', 'Too many unacknowledged sends', messageId));
    const promise = new Promise<SentAck>((resolve, reject) => {
      this.outbox.add({ messageId, to, body, resolve, reject, socket: 0, writtenAt: 0, refusals: 0 });
    });
    this.sendPromises.set(messageId, promise);
    const forget = () => this.sendPromises.delete(messageId);
    promise.then(forget, forget);
    this.flushOutbox();
    return promise;
  }

  /** Confirms messages by hand (with `autoConfirm: false`), once they are safely shown or stored. */
  confirm(messageIds: string | readonly string[]): void {
    for (const id of typeof messageIds === 'string' ? [messageIds] : messageIds) {
      this.seen.markConfirmed(id);
      this.queueConfirm(id);
    }
  }

  /** Asks the server to replay every unconfirmed message (then `ready`). */
  sync(): void {
    this.write({ type: 'sync' });
  }

  /** Drops the current socket and connects again at once (e.g. after the app regained focus). */
  reconnect(): void {
    if (this.closed) return;
    if (this.socket) return this.dropSocket(1000, 'reconnect', true);
    if (this.currentState === 'reconnecting') void this.open();
  }

  /** Resolves at the next `ready` (at once if ready now). */
  whenReady(): Promise<void> {
    if (this.currentState === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.on('state', (state) => {
        if (state === 'ready') (off(), resolve());
        else if (state === 'closed') (off(), reject(new ChatClientError('closed', 'The client closed before it was ready')));
      });
    });
  }

  /** Closes for good: pending sends are rejected with `closed` (they may or may not have been stored). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatchNetwork?.();
    this.dropSocket(1000, 'client closed', false);
    for (const key of Object.keys(this.timers) as (keyof ChatClient['timers'])[]) {
      clearTimeout(this.timers[key] as Timer);
      delete this.timers[key];
    }
    for (const entry of this.outbox.drain()) entry.reject(new ChatClientError('closed', 'The client closed before this send was acknowledged', entry.messageId));
    this.setState('closed');
  }

  // ---- connection lifecycle ------------------------------------------------------------------

  private async open(): Promise<void> {
    if (this.closed || this.offline) return;
    clearTimeout(this.timers.reconnect);
    const id = ++this.socketId;
    this.socketOpened = false;
    this.setState('connecting');
    const stale = () => id !== this.socketId || this.closed || this.offline;
    // A credential about to expire is renewed first; a refused one ends the client.
    if (this.session.expiresWithin(2000)) {
      const renewed = await this.session.refresh();
      if (stale()) return;
      if (renewed === 'unauthorized') return this.fail('Session expired; log in again');
    }
    let socket: WebSocketLike;
    try {
      const headers = await this.session.upgradeHeaders();
      if (stale()) return;
      socket = this.session.mode === 'bearer' ? new this.WebSocketClass(this.connectOptions.url, undefined, { headers }) : new this.WebSocketClass(this.connectOptions.url);
    } catch (error) {
      if (stale()) return;
      this.report('unavailable', `Could not open a socket: ${(error as Error).message}`, true);
      return this.scheduleReconnect();
    }
    this.socket = socket;
    this.timers.connect = setTimeout(() => {
      if (id === this.socketId && !this.socketOpened) this.dropSocket(1000, 'connect timeout', false);
    }, this.options.connectTimeoutMs);
    socket.onopen = () => {
      if (id !== this.socketId) return;
      clearTimeout(this.timers.connect);
      this.socketOpened = true;
      this.lastFrameAt = Date.now();
      this.heartbeatSentAt = undefined;
      this.setState('open');
      this.flushOutbox();
      const { ackTimeoutMs, heartbeatMs } = this.options;
      const period = Math.max(50, Math.min(1000, ackTimeoutMs / 4, heartbeatMs > 0 ? heartbeatMs / 4 : Infinity));
      this.timers.ackWatch = setInterval(() => this.checkLiveness(), period);
    };
    socket.onmessage = (event) => {
      if (id !== this.socketId) return;
      this.lastFrameAt = Date.now();
      this.heartbeatSentAt = undefined;
      if (typeof event.data === 'string') this.handleFrame(event.data);
    };
    socket.onclose = (event) => {
      if (id === this.socketId) this.socketClosed(event.code);
    };
    socket.onerror = () => {}; // a close event follows
  }

  /** Closes the current socket without waiting for the close handshake (a dead peer may never answer). */
  private dropSocket(code: number, reason: string, reconnectAtOnce: boolean): void {
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
    this.socket = undefined;
    this.socketOpened = false;
    clearTimeout(this.timers.connect);
    clearInterval(this.timers.ackWatch);
    clearTimeout(this.timers.confirm);
    delete this.timers.confirm;
    this.toConfirm = []; // unconfirmed messages are replayed on the next socket and confirmed then
    if (this.closed) return;
    if (this.offline) return this.setState('offline');
    if (code === 4001) return void this.refreshAndReconnect(); // the token expired while connected
    if (!opened) void this.diagnoseRefusal();
    if (this.reconnectAtOnce) {
      this.reconnectAtOnce = false;
      return void this.open();
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.offline) return;
    this.setState('reconnecting');
    clearTimeout(this.timers.reconnect);
    this.timers.reconnect = setTimeout(() => void this.open(), this.backoff.next());
  }

  /** A socket that never opened: if the server says the credential is bad, renew it or give up. */
  private async diagnoseRefusal(): Promise<void> {
    const id = this.socketId;
    if ((await this.session.check()) !== 'unauthorized' || this.closed) return;
    const renewed = await this.session.refresh();
    if (this.closed) return;
    if (renewed === 'unauthorized') return this.fail('Credentials refused; log in again');
    if (renewed === 'ok' && id === this.socketId && this.currentState === 'reconnecting') void this.open();
  }

  private async refreshAndReconnect(): Promise<void> {
    this.setState('reconnecting');
    const renewed = await this.session.refresh();
    if (this.closed) return;
    if (renewed === 'unauthorized') return this.fail('Session expired; log in again');
    if (renewed === 'ok') return void this.open();
    this.scheduleReconnect();
  }

  /** Renews the credential ahead of its expiry, then moves to a new socket (the old one dies at expiry). */
  private scheduleRefresh(): void {
    clearTimeout(this.timers.refresh);
    const expiresAt = this.session.expiresAt;
    if (expiresAt === undefined) return;
    const remaining = expiresAt - Date.now();
    if (remaining <= 0) return; // the server closes with 4001 and refreshAndReconnect takes over
    const margin = Math.min(this.options.refreshBeforeExpiryMs, remaining / 2);
    const delay = Math.min(MAX_TIMER_MS, remaining - margin);
    this.timers.refresh = setTimeout(async () => {
      if (this.closed) return;
      if (expiresAt - Date.now() > margin + 1000) return this.scheduleRefresh(); // a capped timer fired early
      const renewed = await this.session.refresh();
      if (this.closed) return;
      if (renewed === 'unauthorized') return this.fail('Session expired; log in again');
      if (renewed === 'ok') return this.reconnect();
      // Network trouble: try again shortly, while the token still lives.
      this.timers.refresh = setTimeout(() => this.scheduleRefresh(), Math.min(5000, Math.max(100, (expiresAt - Date.now()) / 4)));
    }, delay);
  }

  private fail(message: string): void {
    this.report('unauthorized', message, false);
    for (const entry of this.outbox.drain()) entry.reject(new ChatClientError('unauthorized', message, entry.messageId));
    this.close();
  }

  private watchNetwork(): (() => void) | undefined {
    const scope = globalThis as unknown as {
      addEventListener?: (type: string, listener: () => void) => void;
      removeEventListener?: (type: string, listener: () => void) => void;
      navigator?: { onLine?: boolean };
    };
    if (typeof scope.addEventListener !== 'function' || typeof scope.navigator?.onLine !== 'boolean') return undefined;
    const goneOffline = () => {
      this.offline = true;
      clearTimeout(this.timers.reconnect);
      if (this.socket) this.dropSocket(1000, 'offline', false);
      this.setState('offline');
    };
    const backOnline = () => {
      if (!this.offline || this.closed) return;
      this.offline = false;
      this.backoff.reset();
      void this.open();
    };
    scope.addEventListener('offline', goneOffline);
    scope.addEventListener('online', backOnline);
    if (scope.navigator.onLine === false) this.offline = true;
    return () => {
      scope.removeEventListener?.('offline', goneOffline);
      scope.removeEventListener?.('online', backOnline);
    };
  }

  // ---- frames --------------------------------------------------------------------------------

  private handleFrame(text: string): void {
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const messageId = typeof frame.messageId === 'string' ? frame.messageId : undefined;
    switch (frame.type) {
      case 'ack':
        if (!messageId) return;
        if (frame.status === 'SENT') {
          this.outbox.take(messageId)?.resolve({ messageId, ts: Number(frame.ts), duplicate: frame.duplicate === true });
        } else if (frame.status === 'DELIVERED') {
          this.emit('delivered', { messageId });
        }
        return;
      case 'message': {
        const { from, to, body, ts } = frame;
        if (!messageId || typeof from !== 'string' || typeof to !== 'string' || typeof body !== 'string' || typeof ts !== 'number') return;
        if (this.seen.has(messageId)) {
          // A repeat: the earlier confirmation was lost (or not sent yet). Confirm again if the app had.
          if (this.seen.isConfirmed(messageId)) this.queueConfirm(messageId);
          return;
        }
        this.seen.add(messageId, this.options.autoConfirm);
        this.emit('message', { messageId, from, to, body, ts });
        if (this.options.autoConfirm) this.queueConfirm(messageId);
        return;
      }
      case 'ready':
        this.backoff.reset();
        this.setState('ready');
        this.emit('ready', { replayed: Number(frame.replayed) || 0 });
        void this.learnExpiry();
        return;
      case 'error':
        return this.handleError(frame, messageId);
    }
  }

  private handleError(frame: Record<string, unknown>, messageId: string | undefined): void {
    const code = String(frame.code) as ClientErrorCode;
    const message = typeof frame.message === 'string' ? frame.message : code;
    const retryAfter = typeof frame.retryAfter === 'number' ? frame.retryAfter : undefined;
    const entry = messageId ? this.outbox.get(messageId) : undefined;
    if (entry) {
      if (RETRYABLE.has(code)) {
        entry.refusals++;
        // Nothing was stored: hold the outbox, then send this one and every later one again, in order.
        this.hold(retryAfter !== undefined ? retryAfter * 1000 : exponentialCeiling(1000, 30_000, entry.refusals - 1));
        this.outbox.rewindFrom(entry.messageId);
        this.report(code, message, true, entry.messageId, retryAfter);
      } else {
        this.outbox.take(entry.messageId);
        entry.reject(new ChatClientError(code, message, entry.messageId));
        this.report(code, message, false, entry.messageId, retryAfter);
      }
      return;
    }
    if (code === 'unavailable' && !messageId) {
      // The replay failed part way: ask again once the store may be back.
      this.report(code, message, true, undefined, retryAfter);
      clearTimeout(this.timers.sync);
      this.timers.sync = setTimeout(() => this.sync(), (retryAfter ?? 1) * 1000);
      return;
    }
    this.report(code, message, false, messageId, retryAfter);
  }

  private async learnExpiry(): Promise<void> {
    if (this.session.expiresAt === undefined && this.session.mode === 'cookie') await this.session.check();
    if (!this.closed) this.scheduleRefresh();
  }

  private flushOutbox(): void {
    if (!this.socket || !this.socketOpened || this.socket.readyState !== OPEN || Date.now() < this.holdUntil) return;
    const now = Date.now();
    for (const entry of this.outbox.unwritten(this.socketId)) {
      if (!this.write({ type: 'send', messageId: entry.messageId, to: entry.to, body: entry.body })) return;
      entry.socket = this.socketId;
      entry.writtenAt = now;
    }
  }

  private hold(ms: number): void {
    this.holdUntil = Math.max(this.holdUntil, Date.now() + ms);
    clearTimeout(this.timers.hold);
    this.timers.hold = setTimeout(() => {
      this.holdUntil = 0; // timers may fire a little before Date.now() reaches the mark
      this.flushOutbox();
    }, this.holdUntil - Date.now());
  }

  /**
   * A send unanswered for ackTimeoutMs means the socket is dead or stuck: move to a new one. A socket
   * silent for heartbeatMs gets a `sync` (the one request protocol v1 always answers, with `ready`);
   * no frame within ackTimeoutMs after it means the connection went silent without closing.
   */
  private checkLiveness(): void {
    const now = Date.now();
    const oldest = this.outbox.oldestWritten(this.socketId);
    if (oldest && now - oldest.writtenAt > this.options.ackTimeoutMs) return this.dropSocket(4000, 'ack timeout', true);
    if (this.heartbeatSentAt !== undefined) {
      if (now - this.heartbeatSentAt > this.options.ackTimeoutMs) this.dropSocket(4000, 'heartbeat timeout', true);
      return;
    }
    if (this.options.heartbeatMs > 0 && now - this.lastFrameAt > this.options.heartbeatMs && this.write({ type: 'sync' })) this.heartbeatSentAt = now;
  }

  private queueConfirm(messageId: string): void {
    this.toConfirm.push(messageId);
    if (this.toConfirm.length >= MAX_CONFIRM_BATCH) return this.flushConfirms();
    this.timers.confirm ??= setTimeout(() => this.flushConfirms(), this.options.confirmDelayMs);
  }

  private flushConfirms(): void {
    clearTimeout(this.timers.confirm);
    delete this.timers.confirm;
    while (this.toConfirm.length > 0) {
      const batch = this.toConfirm.splice(0, MAX_CONFIRM_BATCH);
      if (!this.write({ type: 'delivered', messageIds: [...new Set(batch)] })) {
        this.toConfirm = []; // no socket: the messages come back on the next replay
        return;
      }
    }
  }

  private write(frame: object): boolean {
    const socket = this.socket;
    if (!socket || !this.socketOpened || socket.readyState !== OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  private report(code: ClientErrorCode, message: string, willRetry: boolean, messageId?: string, retryAfter?: number): void {
    this.emit('error', { code, message, willRetry, ...(messageId !== undefined ? { messageId } : {}), ...(retryAfter !== undefined ? { retryAfter } : {}) });
  }

  private setState(state: ClientState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.emit('state', state);
  }
}
