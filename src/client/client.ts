// The chat client: together with the server's promises it gives the application every message
// exactly once (docs/client.md). It is put together from parts with one job each:
// - ReconnectingSocket: one WebSocket at a time, reconnected with backoff, replaced when silent;
// - CredentialRenewal: the token (or cookie) renewed before expiry and after a 4001;
// - watchNetwork: browsers' offline/online events;
// - Sender: the outbox, resolved by SENT acks and written again (same messageId) on every new socket;
// - Confirmations: repeats dropped by messageId, the rest confirmed with batched `delivered` frames.
// This class is the public face and routes the server's frames to the part they concern.
import type { ServerFrame } from '../protocol/client-codec.js';
import { ChatClientError, errorEvent, type Report } from './client-error.js';
import { Confirmations } from './confirmations.js';
import { CredentialRenewal } from './credential-renewal.js';
import { Emitter } from './emitter.js';
import { watchNetwork, type NetworkWatch } from './network-watch.js';
import { ReconnectingSocket } from './reconnecting-socket.js';
import { Sender } from './sender.js';
import { httpBaseOf, Session } from './session.js';
import type { ClientEvents, ClientState, ConnectOptions, SentAck, WebSocketConstructor } from './types.js';

export class ChatClient extends Emitter<ClientEvents> {
  private readonly socket: ReconnectingSocket;
  private readonly renewal: CredentialRenewal;
  private readonly sender: Sender;
  private readonly confirmations: Confirmations;
  private readonly network: NetworkWatch | undefined;

  constructor(options: ConnectOptions) {
    super();
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketClass) throw new TypeError('No global WebSocket here (Node 20): pass { WebSocket } from the "ws" package');
    if (options.token !== undefined && !options.WebSocket) {
      throw new TypeError('A token needs a WebSocket class that sends headers (e.g. "ws"); in browsers omit the token and use the session cookie');
    }
    const globalFetch = (globalThis as { fetch?: ConnectOptions['fetch'] }).fetch;
    const session = new Session(options.token, options.httpUrl ?? httpBaseOf(options.url), options.fetch ?? globalFetch?.bind(globalThis));
    const report: Report = (...args) => this.emit('error', errorEvent(...args));
    this.socket = new ReconnectingSocket(
      {
        url: options.url,
        WebSocket: WebSocketClass,
        ackTimeoutMs: options.ackTimeoutMs ?? 15_000,
        heartbeatMs: options.heartbeatMs ?? 60_000,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        initialDelayMs: options.reconnect?.initialDelayMs ?? 250,
        maxDelayMs: options.reconnect?.maxDelayMs ?? 15_000,
      },
      session,
      {
        state: (state) => this.emit('state', state),
        opened: () => this.sender.flush(),
        frame: (frame) => this.route(frame),
        closed: () => this.confirmations.socketClosed(),
        tokenExpired: () => void this.renewal.renewAndReconnect(),
        refused: () => void this.renewal.diagnoseRefusal(),
        failed: (message) => this.fail(message),
        report,
        oldestUnansweredAt: (generation) => this.sender.oldestWrittenAt(generation),
      },
    );
    this.renewal = new CredentialRenewal(session, this.socket, options.refreshBeforeExpiryMs ?? 60_000, (message) => this.fail(message));
    this.sender = new Sender(this.socket, options.maxOutbox ?? 1000, report);
    this.confirmations = new Confirmations(
      (frame) => this.socket.write(frame),
      { autoConfirm: options.autoConfirm ?? true, confirmDelayMs: options.confirmDelayMs ?? 20, dedupeSize: options.dedupeSize ?? 10_000 },
      report,
    );
    this.network = options.watchNetwork === false ? undefined : watchNetwork({ offline: () => this.socket.goOffline(), online: () => this.socket.goOnline() });
    if (this.network?.offlineNow) this.socket.startOffline();
    // Let the caller attach listeners before the first state change.
    queueMicrotask(() => void this.socket.open());
  }

  get state(): ClientState {
    return this.socket.state;
  }

  /** Sends not yet acknowledged (they are retried until they are). */
  get pendingSends(): number {
    return this.sender.pending;
  }

  /**
   * Sends `body` to user `to`. Resolves with the SENT ack once the server has stored the message;
   * retried with the same messageId across reconnects until then. Rejects only for good (bad_request,
   * too_large, conflict, outbox_full, closed).
   */
  send(to: string, body: string, options: { messageId?: string } = {}): Promise<SentAck> {
    return this.sender.send(to, body, options.messageId);
  }

  /** Confirms messages by hand (with `autoConfirm: false`), once they are safely shown or stored. */
  confirm(messageIds: string | readonly string[]): void {
    this.confirmations.confirm(typeof messageIds === 'string' ? [messageIds] : messageIds);
  }

  /** Asks the server to replay every unconfirmed message (then `ready`). */
  sync(): void {
    this.socket.write({ type: 'sync' });
  }

  /** Drops the current socket and connects again at once (e.g. after the app regained focus). */
  reconnect(): void {
    this.socket.reconnect();
  }

  /** Resolves at the next `ready` (at once if ready now). */
  whenReady(): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.on('state', (state) => {
        if (state === 'ready') (off(), resolve());
        else if (state === 'closed') (off(), reject(new ChatClientError('closed', 'The client closed before it was ready')));
      });
    });
  }

  /** Closes for good: pending sends are rejected with `closed` (they may or may not have been stored). */
  close(): void {
    if (this.socket.closed) return;
    this.network?.stop();
    this.renewal.stop();
    this.sender.stop();
    this.confirmations.stop();
    this.sender.rejectAll('closed', 'The client closed before this send was acknowledged');
    this.socket.close();
  }

  private route(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ack':
        if (frame.status === 'SENT') this.sender.acked(frame);
        else this.emit('delivered', { messageId: frame.messageId });
        return;
      case 'message': {
        const { messageId, from, to, body, ts } = frame;
        if (!this.confirmations.firstSight(messageId)) return;
        this.emit('message', { messageId, from, to, body, ts });
        this.confirmations.shown(messageId);
        return;
      }
      case 'ready':
        this.emit('ready', { replayed: frame.replayed });
        void this.renewal.learnExpiry();
        return;
      case 'error':
        if (this.sender.refused(frame) || this.confirmations.refused(frame)) return;
        this.emit('error', errorEvent(frame.code, frame.message, false, frame.messageId, frame.retryAfter));
        return;
    }
  }

  private fail(message: string): void {
    this.emit('error', errorEvent('unauthorized', message, false));
    this.sender.rejectAll('unauthorized', message);
    this.close();
  }
}
