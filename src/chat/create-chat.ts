// The chat domain, built in one place: the services, the router and the bus wiring. The transport
// binds sockets and routes to the Chat it returns and knows nothing of what is inside.
import type { LiveBus } from '../bus/live-bus.js';
import { ChatError, toChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Store } from '../store/store.js';
import type { ClientCommand, SendInput } from './commands.js';
import { ConfirmService } from './confirm.js';
import type { ChatConnection } from './connection.js';
import type { DeliverySession } from './delivery-session.js';
import { RateLimiter } from './rate-limit.js';
import { ReplayService } from './replay.js';
import { DeliveryRouter } from './router.js';
import { SendService, type SendOutcome } from './send.js';

export interface ChatLimits {
  readonly replayPageSize: number;
  readonly replayLiveBuffer: number;
  /** A replay waits for a socket to drain past half of this. */
  readonly maxBackpressureBytes: number;
  readonly sendRatePerSec: number;
  readonly sendBurst: number;
  readonly deliveredRatePerSec: number;
  readonly deliveredBurst: number;
  /** Users whose rate-limit buckets are kept. */
  readonly maxConnections: number;
}

export interface ChatDeps {
  readonly store: Store;
  readonly bus: LiveBus;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly limits: ChatLimits;
}

export class Chat {
  private readonly router: DeliveryRouter;
  private readonly sender: SendService;
  private readonly confirmer: ConfirmService;
  private readonly replayer: ReplayService;

  constructor(private readonly deps: ChatDeps) {
    const { store, bus, metrics, log, limits } = deps;
    this.router = new DeliveryRouter(limits.replayLiveBuffer, bus);
    const sendLimiter = new RateLimiter(limits.sendRatePerSec, limits.sendBurst, limits.maxConnections);
    const deliveredLimiter = new RateLimiter(limits.deliveredRatePerSec, limits.deliveredBurst, limits.maxConnections);
    this.sender = new SendService(store, this.router, sendLimiter, metrics, log);
    this.confirmer = new ConfirmService(store, this.router, deliveredLimiter, metrics, log);
    this.replayer = new ReplayService(store, limits.replayPageSize, limits.maxBackpressureBytes / 2, metrics);
  }

  /** Starts taking other instances' events. */
  async start(): Promise<void> {
    await this.deps.bus.start((event) => this.router.fromBus(event));
  }

  /** A new connection: its session is registered, then everything pending is replayed, then `ready`. */
  connect(connection: ChatConnection): DeliverySession {
    const { session, subscribed } = this.router.add(connection);
    this.replay(session, subscribed);
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
        const started = performance.now();
        this.sender.send(connection.userId, command).then(
          ({ message, duplicate }) => {
            connection.send({ type: 'ack_sent', messageId: message.messageId, ts: message.ts, duplicate });
            this.deps.metrics.sentAckLatency.observe((performance.now() - started) / 1000);
          },
          (error) => this.answerError(connection, error),
        );
        return;
      }
      case 'delivered':
        this.confirmer.confirm(connection.userId, command.messageIds, session).catch((error) => this.answerError(connection, error));
        return;
      case 'sync':
        this.replay(session);
        return;
    }
  }

  /** The send path for the HTTP door (the WebSocket door goes through `handle`). */
  send(userId: string, input: SendInput): Promise<SendOutcome> {
    return this.sender.send(userId, input);
  }

  /** Tells a connection why something it asked for failed. */
  answerError(connection: ChatConnection, error: unknown): void {
    const chatError = toChatError(error);
    if (chatError.code === 'internal') this.deps.log.error({ err: error }, 'internal error handling a frame');
    connection.send({ type: 'error', error: chatError });
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
