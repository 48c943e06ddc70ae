// The chat domain, built in one place: the services, the router and the bus wiring. The transport
// binds sockets and routes to the Chat it returns and knows nothing of what is inside.
import type { LiveBus } from '../bus/live-bus.js';
import { ChatError, toChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Store, StoredMessage } from '../store/store.js';
import type { ClientCommand, DeleteInput, EditInput, SendInput } from './commands.js';
import { MessageEventService, type EventOutcome } from './message-events.js';
import { ConfirmService, notFound } from './confirm.js';
import { ConversationService, type ConversationLimits } from './conversations.js';
import { ConversationDirectory } from './directory.js';
import { Signals } from './signals.js';
import { BusFallback } from './bus-fallback.js';
import { covers } from '../store/cursor.js';
import type { ChatConnection } from './connection.js';
import type { DeliverySession } from './delivery-session.js';
import { RateLimiter } from './rate-limit.js';
import { LateRefusals } from './late-refusals.js';
import { ReplayService } from './replay.js';
import { DeliveryRouter } from './router.js';
import { SendService, type SendOutcome } from './send.js';
import { isPromise } from '../maybe-promise.js';
import { ConfirmationsInFlight } from './confirmations-in-flight.js';

export interface ChatLimits extends ConversationLimits {
  readonly replayPageSize: number;
  readonly replayLiveBuffer: number;
  readonly replayRatePerSec: number;
  readonly replayBurst: number;
  /** A replay waits for a socket to drain past half of this. */
  readonly maxBackpressureBytes: number;
  readonly sendRatePerSec: number;
  readonly sendBurst: number;
  readonly deliveredRatePerSec: number;
  readonly deliveredBurst: number;
  /** What a confirmed id that matches no stored message costs, in ids (DELIVERED_UNKNOWN_ID_COST). */
  readonly deliveredUnknownIdCost: number;
  readonly readRatePerSec: number;
  readonly readBurst: number;
  readonly typingRatePerSec: number;
  readonly typingBurst: number;
  readonly syncRatePerSec: number;
  readonly syncBurst: number;
  readonly typingIntervalMs: number;
  readonly conversationChangesPerMin: number;
  readonly receiptsMaxMembers: number;
  /** RECEIPTS_GROUP_INTERVAL_MS: a group's receipts to its other members, coalesced over this window. */
  readonly receiptsGroupIntervalMs: number;
  readonly busFallbackPollMs: number;
  readonly busLateEventMs: number;
  /** The store's op timeout (DB_OP_TIMEOUT_MS): the longest a replay waits for the device's confirmations in flight. */
  readonly storeOpTimeoutMs: number;
  /** Users whose rate-limit buckets are kept. */
  readonly maxConnections: number;
}

export interface ChatDeps {
  readonly store: Store;
  readonly bus: LiveBus;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly limits: ChatLimits;
  /** Whether a user is banned now (the access list): a send still waiting to be written is refused. */
  readonly banned?: (userId: string) => boolean;
}

export class Chat {
  private readonly router: DeliveryRouter;
  private readonly sender: SendService;
  private readonly events: MessageEventService;
  private readonly confirmer: ConfirmService;
  private readonly replayer: ReplayService;
  private readonly directory: ConversationDirectory;
  private readonly signals: Signals;
  private readonly typingLimiter: RateLimiter;
  private readonly syncLimiter: RateLimiter;
  private readonly fallback: BusFallback;
  private readonly confirmations: ConfirmationsInFlight;
  private readonly lateRefusals: LateRefusals;
  /** Groups, members, the conversation list and history (the HTTP routes). */
  readonly conversations: ConversationService;

  constructor(private readonly deps: ChatDeps) {
    const { store, bus, metrics, log, limits } = deps;
    const users = limits.maxConnections;
    const lateCheck = {
      afterMs: limits.busLateEventMs,
      confirmed: async (session: DeliverySession, message: StoredMessage) => {
        const cursor = await store.deviceCursor(session.userId, session.deviceId, message.conversationId);
        return cursor !== undefined && covers(cursor, message.seq);
      },
    };
    const withhold = (session: DeliverySession, message: StoredMessage) => this.confirmer.withhold(session, message.messageId);
    this.router = new DeliveryRouter(limits.replayLiveBuffer, (userId) => store.conversationIdsOf(userId), bus, lateCheck, withhold);
    this.directory = new ConversationDirectory(store, Math.max(1000, Math.min(users, 100_000)));
    this.signals = new Signals(this.router, limits.receiptsMaxMembers, limits.typingIntervalMs, users, limits.receiptsGroupIntervalMs);
    const sendLimiter = new RateLimiter(limits.sendRatePerSec, limits.sendBurst, users);
    const deliveredLimiter = new RateLimiter(limits.deliveredRatePerSec, limits.deliveredBurst, users);
    const readLimiter = new RateLimiter(limits.readRatePerSec, limits.readBurst, users);
    this.typingLimiter = new RateLimiter(limits.typingRatePerSec, limits.typingBurst, users);
    this.syncLimiter = new RateLimiter(limits.syncRatePerSec, limits.syncBurst, users);
    const changeLimiter = new RateLimiter(limits.conversationChangesPerMin / 60, limits.conversationChangesPerMin, users);
    this.sender = new SendService(store, this.router, sendLimiter, metrics, log);
    this.events = new MessageEventService(store, this.router, this.directory, sendLimiter, metrics, log);
    this.confirmations = new ConfirmationsInFlight(limits.storeOpTimeoutMs);
    this.confirmer = new ConfirmService(store, this.router, this.directory, this.signals, deliveredLimiter, readLimiter, metrics, log, this.confirmations, limits.deliveredUnknownIdCost);
    const replayLimiter = new RateLimiter(limits.replayRatePerSec, limits.replayBurst, users);
    this.replayer = new ReplayService(store, limits.replayPageSize, limits.maxBackpressureBytes / 2, metrics, this.confirmations, replayLimiter);
    // Removals made here and heard from other instances (start()), and bans: asked by the store before each insert.
    this.lateRefusals = new LateRefusals(2 * limits.storeOpTimeoutMs, deps.banned ?? (() => false));
    store.admitSenders?.(this.lateRefusals.gate);
    this.conversations = new ConversationService(store, this.router, this.directory, changeLimiter, limits, (event, conversationId, users) => this.lateRefusals.changed(event, conversationId, users));
    this.fallback = new BusFallback(limits.busFallbackPollMs, () => this.router.sessions(), (session) => this.replayer.replay(session, undefined, true), log);
  }

  /** Starts taking other instances' events. */
  async start(): Promise<void> {
    await this.deps.bus.start((event, forUser) => {
      if (event.kind === 'catchup') return this.fallback.peerBack(event.since);
      if (event.kind === 'conversation') {
        this.directory.changed(event.conversation);
        this.lateRefusals.changed(event.event, event.conversation.conversationId, event.users);
      }
      // Its recipients here will confirm it: the store need not look its facts up (one round trip less).
      // A group message with no member here is not learnt: it would only push useful facts out of the cache.
      if (event.kind === 'message' && this.router.hasHearers(event.message)) this.deps.store.learn?.(event.message);
      this.router.fromBus(event, forUser);
    });
    if (this.deps.bus.kind !== 'none') this.deps.bus.onHealth((up) => this.fallback.health(up));
  }

  /** A new connection: its session is registered, then everything pending is replayed, then `ready`. */
  connect(connection: ChatConnection): DeliverySession {
    const { session, ready } = this.router.add(connection);
    this.replay(session, ready);
    return session;
  }

  disconnect(session: DeliverySession): void {
    this.router.remove(session);
  }

  /** One command from a connection; its answers (acks, errors) go back to the connection as events. */
  handle(session: DeliverySession, command: ClientCommand): void {
    const { connection } = session;
    switch (command.type) {
      case 'send': {
        // Shutting down: the connection closes with 1001 once the accepted sends are acked, and the
        // client sends again elsewhere; an error frame now would be an error it need not see.
        if (!this.sender.isAccepting) return;
        const started = performance.now();
        let outcome;
        try {
          outcome = this.sender.send(connection.userId, command, connection.deviceId);
        } catch (error) {
          this.answerError(connection, error);
          return;
        }
        // A store that answered at once (memory) is acked in this turn, without a promise per frame.
        if (!isPromise(outcome)) this.ackSent(connection, outcome, started);
        else outcome.then((done) => this.ackSent(connection, done, started), (error) => this.answerError(connection, error));
        return;
      }
      case 'edit':
      case 'delete': {
        if (!this.sender.isAccepting) return;
        const done = command.type === 'edit' ? this.events.edit(connection.userId, command, connection.deviceId) : this.events.remove(connection.userId, command, connection.deviceId);
        done.then(
          ({ event, duplicate }) => connection.send({ type: 'ack_event', event, duplicate }),
          (error) => this.answerError(connection, error),
        );
        return;
      }
      case 'delivered': {
        let marked;
        try {
          marked = this.confirmer.confirm(session, command.messageIds);
        } catch (error) {
          this.answerError(connection, error);
          return;
        }
        if (isPromise(marked)) marked.catch((error) => this.answerError(connection, error));
        return;
      }
      case 'delivered_upto':
        this.confirmer.confirmUpTo(session, command.conversationId, command.seq).catch((error) => this.answerError(connection, error, command.conversationId));
        return;
      case 'read':
        this.confirmer.read(session, command.conversationId, command.seq).catch((error) => this.answerError(connection, error, command.conversationId));
        return;
      case 'typing':
        this.typing(session, command.conversationId).catch((error) => this.answerError(connection, error, command.conversationId));
        return;
      case 'sync': {
        // Each sync is a replay, which reads the store: a flood of them must not keep it busy.
        const wait = this.syncLimiter.take(connection.userId);
        if (wait > 0) {
          this.deps.metrics.rateLimited.inc({ limit: 'sync' });
          this.answerError(connection, new ChatError('rate_limited', 'Too many sync frames; no replay ran: send sync again after retryAfter', { retryAfterSec: wait }));
          return;
        }
        this.replay(session, this.router.prepare(connection.userId));
        return;
      }
    }
  }

  private ackSent(connection: ChatConnection, { message, duplicate }: SendOutcome, started: number): void {
    connection.send({ type: 'ack_sent', message, duplicate });
    this.deps.metrics.sentAckLatency.observe((performance.now() - started) / 1000);
  }

  private async typing(session: DeliverySession, conversationId: string): Promise<void> {
    const wait = this.typingLimiter.take(session.userId);
    if (wait > 0) {
      this.deps.metrics.rateLimited.inc({ limit: 'typing' });
      throw new ChatError('rate_limited', 'Too many typing frames', { retryAfterSec: wait });
    }
    let conversation;
    try {
      conversation = await this.directory.forMember(conversationId, session.userId);
    } catch (error) {
      throw new ChatError('unavailable', 'Store unavailable; typing not relayed', { cause: error, retryAfterSec: 1 });
    }
    if (!conversation) throw notFound();
    this.signals.typing(conversation, session.userId);
  }

  /** The send path for the HTTP door (the WebSocket door goes through `handle`); `byServer`: the server API's, which may send as a banned user. */
  async send(userId: string, input: SendInput, byServer = false): Promise<SendOutcome> {
    return this.sender.send(userId, input, undefined, byServer);
  }

  /** Edits and deletes for the HTTP door: the message must be in `conversationId` (the route's). */
  edit(userId: string, conversationId: string, input: EditInput): Promise<EventOutcome> {
    return this.events.edit(userId, input, undefined, conversationId);
  }

  deleteMessage(userId: string, conversationId: string, input: DeleteInput): Promise<EventOutcome> {
    return this.events.remove(userId, input, undefined, conversationId);
  }

  /** Tells a connection why something it asked for failed; `conversationId`: the one the frame named, so the client can tell which. */
  answerError(connection: ChatConnection, error: unknown, conversationId?: string): void {
    const chatError = toChatError(error);
    if (chatError.code === 'internal') this.deps.log.error({ err: error }, 'internal error handling a frame');
    connection.send({ type: 'error', error: chatError, conversationId }); // an undefined conversationId is left out of the frame
  }

  /** Shutdown: refuse new sends (unavailable, retry elsewhere); resolves when accepted ones are acked. */
  async drainSends(): Promise<void> {
    this.sender.stopAccepting();
    await this.sender.whenIdle();
  }

  /** Every open connection (shutdown closes them). */
  *connections(): IterableIterator<ChatConnection> {
    for (const session of this.router.sessions()) yield session.connection;
  }

  get connectionCount(): number {
    return this.router.size;
  }

  /** Stops the bus (after the connections are closed). */
  async close(): Promise<void> {
    this.fallback.close();
    await this.deps.bus.close();
  }

  private replay(session: DeliverySession, after?: Promise<void>): void {
    this.replayer.replay(session, after).catch((error) => this.answerError(session.connection, replayError(error)));
  }
}

export function createChat(deps: ChatDeps): Chat {
  return new Chat(deps);
}

function replayError(error: unknown): ChatError {
  return error instanceof ChatError ? error : new ChatError('unavailable', 'Store unavailable; replay incomplete, send sync to retry', { cause: error });
}
