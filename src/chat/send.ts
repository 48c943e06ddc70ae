// The one send path, for both doors (WebSocket frame and POST /api/messages): rate limit, store
// (DB-first; the store checks membership and assigns the conversation's seq), and only then
// acknowledge and deliver live.
import { errorSummary, type Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { ChatError } from '../errors.js';
import type { SendInput } from './commands.js';
import { StoreUnavailableError, type NewMessage, type PersistResult, type Store, type StoredMessage } from '../store/store.js';
import { isPromise, type MaybePromise } from '../maybe-promise.js';
import type { RateLimiter } from './rate-limit.js';
import type { DeliveryRouter } from './router.js';

export interface SendOutcome {
  readonly message: StoredMessage;
  /** True when this messageId was already stored with the same content: the original `ts` is returned. */
  readonly duplicate: boolean;
}

export class SendService {
  private readonly sentCounters;
  private accepting = true;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly router: DeliveryRouter,
    private readonly rateLimiter: RateLimiter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    const sent = metrics.messagesSent;
    this.sentCounters = {
      new: sent.cell('new'),
      duplicate: sent.cell('duplicate'),
      conflict: sent.cell('conflict'),
      notFound: sent.cell('not_found'),
      banned: sent.cell('banned'),
      rateLimited: sent.cell('rate_limited'),
      unavailable: sent.cell('unavailable'),
    };
  }

  /**
   * The outcome once the message is durably stored: at once when the store answers at once (memory),
   * else a promise. Throws (or rejects with) ChatError: rate_limited, not_found, conflict, banned, unavailable.
   * `fromDevice`: the sending device, which is not delivered its own message (undefined over HTTP).
   * `byServer`: the server API's send, which a ban does not refuse.
   */
  send(from: string, input: SendInput, fromDevice?: string, byServer = false): MaybePromise<SendOutcome> {
    if (!this.accepting) {
      throw new ChatError('unavailable', 'Server is shutting down; nothing was stored, retry with the same messageId', {
        messageId: input.messageId,
        retryAfterSec: 1,
      });
    }
    this.inFlight++;
    let outcome: MaybePromise<SendOutcome>;
    try {
      outcome = this.accept(from, input, fromDevice, byServer);
    } catch (error) {
      this.settled();
      throw error;
    }
    if (!isPromise(outcome)) {
      this.settled();
      return outcome;
    }
    return outcome.finally(() => this.settled());
  }

  /** One send fewer between accept and ack: drain waiters are told when none is left. */
  private settled(): void {
    if (--this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  /** Shutdown: refuse new sends (unavailable, retry elsewhere) and let accepted ones finish. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Resolves when no send is between accept and ack. */
  whenIdle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private accept(from: string, input: SendInput, fromDevice: string | undefined, byServer: boolean): MaybePromise<SendOutcome> {
    const wait = this.rateLimiter.take(from);
    if (wait > 0) {
      this.sentCounters.rateLimited.value++;
      this.metrics.rateLimited.inc({ limit: 'send' });
      throw new ChatError('rate_limited', undefined, { messageId: input.messageId, retryAfterSec: wait });
    }
    const ts = Date.now();
    const { messageId, body } = input;
    // One literal, absent fields undefined, not a spread per optional field (a CopyDataProperties call
    // each, per send): both stores read each field and leave an undefined one out of what they keep.
    const message: NewMessage = { messageId, from, fromDevice, to: input.to, conversationId: input.conversationId, body, ts, byServer: byServer || undefined };
    let result: MaybePromise<PersistResult>;
    try {
      result = this.store.persist(message);
    } catch (error) {
      throw this.unavailable(error, messageId);
    }
    if (!isPromise(result)) return this.outcome(result);
    return result.then(
      (stored) => this.outcome(stored),
      (error: unknown) => {
        throw this.unavailable(error, messageId);
      },
    );
  }

  /** What the store answered, as the sender's outcome; a new message is delivered live first. */
  private outcome(result: PersistResult): SendOutcome {
    if (result.kind === 'not_member') {
      this.sentCounters.notFound.value++;
      throw new ChatError('not_found', 'Unknown conversation, or you are not a member of it; nothing was stored', { messageId: result.messageId });
    }
    if (result.kind === 'conflict') {
      this.sentCounters.conflict.value++;
      throw new ChatError('conflict', undefined, { messageId: result.messageId });
    }
    if (result.kind === 'banned') {
      this.sentCounters.banned.value++;
      throw new ChatError('banned', 'Banned while this send waited to be stored; nothing was stored', { messageId: result.messageId });
    }
    if (result.kind === 'created') {
      this.sentCounters.new.value++;
      this.router.deliver(result.message);
      return { message: result.message, duplicate: false };
    }
    // A retry: the recipient already has it live or will get it by replay; nothing is sent again.
    this.sentCounters.duplicate.value++;
    return { message: result.message, duplicate: true };
  }

  /** A store failure of a send: counted, logged, and the error its client gets. */
  private unavailable(error: unknown, messageId: string): ChatError {
    this.sentCounters.unavailable.value++;
    this.metrics.storeErrors.inc({ op: 'persist' });
    this.log.warn({ err: errorSummary(error), messageId }, 'persist failed; send refused as unavailable');
    return new ChatError('unavailable', undefined, { messageId, retryAfterSec: retryAfterSec(error), cause: error });
  }
}

/** Seconds a client should wait before retrying after a store failure: the store's hint, else 1. */
export function retryAfterSec(error: unknown): number {
  const ms = error instanceof StoreUnavailableError ? error.retryAfterMs : undefined;
  return ms === undefined ? 1 : Math.max(1, Math.ceil(ms / 1000));
}
