// The chat client: together with the server's promises it gives the application every message
// exactly once (docs/client.md). It is put together from parts with one job each:
// - ReconnectingSocket: one WebSocket at a time, reconnected with backoff, replaced when silent;
// - CredentialRenewal: the token (or cookie) renewed before expiry and after a 4001;
// - watchNetwork: browsers' offline/online events;
// - Sender: the outbox, resolved by SENT acks and written again (same messageId) on every new socket;
// - Confirmations: repeats dropped by messageId, the rest confirmed with batched `delivered` frames;
// - SeqOrder (v1.1): each conversation's messages in seq order, holes waited for, gaps reported;
// - ReadMarks, TypingThrottle (v1.1): read marks coalesced and re-sent, typing notices throttled;
// - ConversationsApi over HttpApi (v1.1): the conversation routes and history.
// This class is the public face and routes the server's frames to the part they concern.
import type { MessageEventFrame, MessageFrame, ServerFrame } from '../protocol/client-codec.js';
import { ChatClientError, errorEvent, type Report } from './client-error.js';
import { Confirmations } from './confirmations.js';
import type { HistoryOptions, HistoryPage } from './conversation-types.js';
import { ConversationsApi } from './conversations.js';
import { CredentialRenewal } from './credential-renewal.js';
import { browserStorage, resolveDeviceId, withDevice } from './device.js';
import { withQuery } from './query.js';
import { Emitter } from './emitter.js';
import { HttpApi } from './http-api.js';
import { watchNetwork, type NetworkWatch } from './network-watch.js';
import { ReadMarks } from './read-marks.js';
import { ReconnectingSocket } from './reconnecting-socket.js';
import { SendFlow } from './send-flow.js';
import { Sender } from './sender.js';
import { SeqOrder, type PlacedMessage } from './seq-order.js';
import { httpBaseOf, Session } from './session.js';
import { TypingThrottle } from './typing.js';
import { newMessageId } from './ids.js';
import type { ChatMessage, ClientErrorCode, ClientEvents, ClientState, ConnectOptions, EventAck, SendTarget, SentAck, WebSocketConstructor } from './types.js';

export class ChatClient extends Emitter<ClientEvents> {
  private readonly socket: ReconnectingSocket;
  private readonly renewal: CredentialRenewal;
  private readonly sender: Sender;
  private readonly confirmations: Confirmations;
  private readonly network: NetworkWatch | undefined;
  private readonly session: Session;
  private readonly order: SeqOrder;
  private readonly readMarks: ReadMarks;
  private readonly typingThrottle: TypingThrottle;
  /** Edit and delete events in the seq order by eventId, until shown (bounded: the oldest go first). */
  private readonly events = new Map<string, MessageEventFrame>();
  /** This device's id, sent as `?device=` (persist it in Node: see ConnectOptions.device). */
  readonly deviceId: string;
  /** The conversation API: list, get, create, addMembers, removeMember, leave, rename. */
  readonly conversations: ConversationsApi;

  constructor(options: ConnectOptions) {
    super();
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketClass) throw new TypeError('No global WebSocket here (Node 20): pass { WebSocket } from the "ws" package');
    if (options.token !== undefined && !options.WebSocket) {
      throw new TypeError('A token needs a WebSocket class that sends headers (e.g. "ws"); in browsers omit the token and use the session cookie');
    }
    const globalFetch = (globalThis as { fetch?: ConnectOptions['fetch'] }).fetch;
    const session = new Session(options.token, options.httpUrl ?? httpBaseOf(options.url), options.fetch ?? globalFetch?.bind(globalThis));
    this.session = session;
    this.deviceId = resolveDeviceId(options.device, browserStorage(options.devicePerTab ? 'sessionStorage' : 'localStorage'));
    const report: Report = (...args) => this.emit('error', errorEvent(...args));
    this.socket = new ReconnectingSocket(
      {
        url: withQuery(withDevice(options.url, this.deviceId), socketQuery(options.ackDelayMs ?? 0, options.batch === true)),
        batch: options.batch === true,
        WebSocket: WebSocketClass,
        ackTimeoutMs: options.ackTimeoutMs ?? 15_000,
        heartbeatMs: options.heartbeatMs ?? 60_000,
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        initialDelayMs: options.reconnect?.initialDelayMs ?? 250,
        maxDelayMs: options.reconnect?.maxDelayMs ?? 15_000,
        resetAfterMs: options.reconnect?.resetAfterMs ?? 5_000,
      },
      session,
      {
        state: (state) => this.emit('state', state),
        opened: () => {
          this.order.socketOpened();
          this.sender.flush();
          this.readMarks.socketOpened();
        },
        frame: (frame) => this.route(frame),
        closed: () => this.confirmations.socketClosed(),
        tokenExpired: () => void this.renewal.renewAndReconnect(),
        refused: () => void this.renewal.diagnoseRefusal(),
        failed: (message, code) => this.fail(message, code),
        report,
        oldestUnansweredAt: (generation) => this.sender.oldestWrittenAt(generation),
      },
    );
    this.renewal = new CredentialRenewal(session, this.socket, options.refreshBeforeExpiryMs ?? 60_000, (message) => this.fail(message));
    this.sender = new Sender(this.socket, options.maxOutbox ?? 1000, new SendFlow(options.maxInFlight ?? 8), report);
    this.confirmations = new Confirmations(
      (frame) => this.socket.write(frame),
      { autoConfirm: options.autoConfirm ?? true, confirmDelayMs: options.confirmDelayMs ?? 20, dedupeSize: options.dedupeSize ?? 10_000 },
      report,
    );
    this.order = new SeqOrder(
      {
        deliver: (message) => this.show(message),
        late: (message) => this.show(message),
        repeat: ({ messageId, conversationId, seq }) => (this.events.delete(messageId), this.confirmations.repeatInConversation(messageId, conversationId, seq, this.order.solid(conversationId))),
        gap: (gap) => this.emit('gap', gap),
        shown: (messageId) => this.confirmations.wasShown(messageId),
        restarted: (conversationId) => (this.confirmations.restart(conversationId), this.readMarks.restart(conversationId)),
        requestReplay: () => this.socket.write({ type: 'sync' }),
      },
      { gapWaitMs: options.gapWaitMs ?? 1000, maxHeld: options.maxHeldPerConversation ?? 1000, maxTracked: options.maxTrackedConversations ?? 1000 },
    );
    this.readMarks = new ReadMarks((frame) => this.socket.write(frame), () => session.userId, options.confirmDelayMs ?? 20, options.maxTrackedConversations ?? 1000);
    this.typingThrottle = new TypingThrottle((conversationId) => this.socket.write({ type: 'typing', conversationId }));
    this.conversations = new ConversationsApi(new HttpApi(session, options.httpAttempts ?? 3), () => this.me());
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

  /** This user's id, once known (a token's `sub`; in browsers after the first `ready`). */
  get userId(): string | undefined {
    return this.session.userId;
  }

  /**
   * Sends `body` to a conversation (`{conversationId}`) or a user (`{to}`, or v1's plain user id: the
   * direct conversation with them). Resolves with the SENT ack (its conversationId and seq) once the
   * server has stored the message; retried with the same messageId across reconnects until then.
   * Rejects only for good (bad_request, too_large, conflict, not_found, outbox_full, closed).
   */
  send(target: string | SendTarget, body: string, options: { messageId?: string } = {}): Promise<SentAck> {
    return this.sender.send(typeof target === 'string' ? { to: target } : target, body, options.messageId);
  }

  /**
   * Marks the conversation read up to `seq` for this user on every device. Coalesced (the latest
   * wins), never moves back, written again on a new socket until a `receipt` acknowledges it. False
   * when it moved nothing forward.
   */
  markRead(conversationId: string, seq: number): boolean {
    return this.readMarks.mark(conversationId, seq);
  }

  /** Tells the other members this user is typing; at most one notice per 2 s per conversation (true when written). */
  typing(conversationId: string): boolean {
    return this.typingThrottle.typing(conversationId);
  }

  /** History paged backwards: each page oldest first, from `before` (default: the newest) to the first message. */
  history(conversationId: string, options: HistoryOptions = {}): AsyncGenerator<HistoryPage, void, undefined> {
    return this.conversations.history(conversationId, options);
  }

  /**
   * v1.2: replaces the body of one of this user's messages. Resolves once the edit is stored and
   * applied (retried with the same editId until then, like a send); the other devices and members get
   * an `edited` event. Rejects with forbidden (not the author) or not_found (unknown, deleted).
   */
  edit(messageId: string, body: string, options: { editId?: string } = {}): Promise<EventAck> {
    const editId = options.editId ?? newMessageId();
    return this.sender.sendEvent(`edit.${editId}`, { type: 'edit', messageId, editId, body });
  }

  /** v1.2: deletes a message (the author's, or any in a group this user owns); the others get `deleted`. */
  deleteMessage(messageId: string): Promise<EventAck> {
    return this.sender.sendEvent(`delete.${messageId}`, { type: 'delete', messageId });
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

  /**
   * Closes for good: confirmations and read marks still queued are written first; pending sends are
   * rejected with `closed` (they may or may not have been stored).
   */
  close(): void {
    if (this.socket.closed) return;
    this.network?.stop();
    this.renewal.stop();
    this.sender.stop();
    this.confirmations.finish();
    this.order.stop();
    this.readMarks.finish();
    this.sender.rejectAll('closed', 'The client closed before this send was acknowledged');
    this.socket.close();
  }

  private route(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ack':
        if (frame.status === 'DELIVERED') return this.emit('delivered', { messageId: frame.messageId });
        // An edit or delete of this device's takes a seq it will not be sent, like its own sends (ownSent below).
        this.sender.acked(frame);
        if (frame.conversationId !== undefined && frame.seq !== undefined) this.order.ownSent(frame.conversationId, frame.seq);
        return;
      case 'message': {
        const message = messageOf(frame);
        if (message.conversationId !== undefined && message.seq !== undefined) return this.order.received(message as PlacedMessage, this.socket.state !== 'ready');
        // A v1 server: no seq, so no order to keep beyond the socket's.
        if (!this.confirmations.firstSight(message.messageId)) return;
        this.emit('message', message);
        this.confirmations.shown(message.messageId);
        return;
      }
      case 'message_event': {
        // Ordered with the messages of its conversation (it has its seq among them), shown once.
        const { type: _, event, body, eventId, ...rest } = frame;
        this.events.set(eventId, frame);
        if (this.events.size > MAX_HELD_EVENTS) this.events.delete(this.events.keys().next().value!);
        return this.order.received({ ...rest, messageId: eventId, body: body ?? '' }, this.socket.state !== 'ready');
      }
      case 'ready':
        this.order.replayDone();
        this.emit('ready', { replayed: frame.replayed });
        void this.renewal.learnExpiry();
        return;
      case 'receipt': {
        this.readMarks.receipt(frame);
        const { type: _, ...receipt } = frame;
        return this.emit('receipt', receipt);
      }
      case 'typing':
        return this.emit('typing', { conversationId: frame.conversationId, userId: frame.userId });
      case 'conversation':
        return this.emit('conversation', { event: frame.event, conversation: frame.conversation });
      case 'error':
        if (this.sender.refused(frame) || this.confirmations.refused(frame)) return;
        this.emit('error', errorEvent(frame.code, frame.message, false, frame.messageId, frame.retryAfter, frame.eventId));
        return;
    }
  }

  /** The next message of a conversation in seq order, or one from below where its tracking began. */
  private show(message: PlacedMessage): void {
    const event = this.events.get(message.messageId);
    if (event) this.events.delete(message.messageId);
    if (!this.confirmations.firstSight(message.messageId)) return;
    if (event) {
      const { type: _, event: kind, ...fields } = event;
      this.emit(kind, fields);
    } else this.emit('message', message);
    this.confirmations.shownInConversation(message.messageId, message.conversationId, this.order.solid(message.conversationId));
  }

  private async me(): Promise<string> {
    if (this.session.userId === undefined) await this.session.check();
    if (this.session.userId === undefined) throw new ChatClientError('unauthorized', 'Could not learn this user\'s id (GET /api/me)');
    return this.session.userId;
  }

  private fail(message: string, code: ClientErrorCode = 'unauthorized'): void {
    this.emit('error', errorEvent(code, message, false));
    this.sender.rejectAll(code, message);
    this.close();
  }
}

const MAX_HELD_EVENTS = 10_000;

/**
 * What this SDK asks of the socket: `events=1` (it shows edits and deletes, v1.2), and as the options
 * say, `ackDelayMs` (v1.3; checked here, since the server refuses the upgrade for a bad one) and
 * `batch=1` (v1.4).
 */
function socketQuery(ackDelayMs: number, batch: boolean): Record<string, string | undefined> {
  if (!Number.isInteger(ackDelayMs) || ackDelayMs < 0) throw new TypeError(`ackDelayMs must be a whole number of ms >= 0, got ${ackDelayMs}`);
  return { events: '1', ackDelayMs: ackDelayMs === 0 ? undefined : String(ackDelayMs), batch: batch ? '1' : undefined };
}

function messageOf(frame: MessageFrame): ChatMessage {
  const { type: _, ...message } = frame;
  return message;
}
