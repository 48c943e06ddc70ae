// Confirmations and read marks from a device. The store advances the device's cursor and the user's
// (each message's first confirmation by any of the user's devices is its one delivery mark); here the
// marks become DELIVERED acks to senders of direct messages (on every instance, once), and advanced
// watermarks become receipts.
import { KeyedLock } from '../lock.js';
import { isPromise, type MaybePromise } from '../maybe-promise.js';
import { errorSummary, type Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { ChatError } from '../errors.js';
import { isDirectConversationId } from '../store/conversation-ids.js';
import type { ConfirmResult, Conversation, Store } from '../store/store.js';
import type { ConfirmationsInFlight } from './confirmations-in-flight.js';
import type { DeliverySession } from './delivery-session.js';
import { isEventId } from './event-ids.js';
import type { ConversationDirectory } from './directory.js';
import type { RateLimiter } from './rate-limit.js';
import type { DeliveryRouter } from './router.js';
import { retryAfterSec } from './send.js';
import type { Signals } from './signals.js';

/** The first part of a lookup of ids this connection was not sent (see `unsentLookups`). */
export const UNSENT_FIRST_LOOKUP_IDS = 2;
/** The largest part, reached by doubling while every id is found. */
export const UNSENT_MAX_LOOKUP_IDS = 1000;

export class ConfirmService {
  constructor(
    private readonly store: Store,
    private readonly router: DeliveryRouter,
    private readonly directory: ConversationDirectory,
    private readonly signals: Signals,
    /** Confirmed ids per user: one token per id (a watermark costs one). Past it the frame is refused whole. */
    private readonly deliveredLimiter: RateLimiter,
    private readonly readLimiter: RateLimiter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Writes of confirmations of messages a connection was sent, which a reconnect's replay waits for. */
    private readonly inFlight: ConfirmationsInFlight,
    /** Tokens an id that matches no stored message costs in all (DELIVERED_UNKNOWN_ID_COST; 1: like any id). */
    private readonly unknownIdCost = 1,
  ) {}

  /**
   * v1: by id. Only the user's own deliveries can be marked: other ids are ignored. The marks made: at
   * once when the store answers at once and every id was sent on this connection (the hot path), else
   * a promise. Throws (or rejects with) ChatError: rate_limited, unavailable.
   */
  confirm(session: DeliverySession, messageIds: readonly string[]): number | Promise<number> {
    this.take(this.deliveredLimiter, session.userId, messageIds.length, 'delivered');
    if (messageIds.every((id) => session.wasSent(id))) {
      const result = this.confirmIds(session, messageIds);
      if (!isPromise(result)) return this.recorded(session, messageIds, result);
      session.confirming(messageIds, true);
      const marked = result.then(
        (answer) => this.recorded(session, messageIds, answer),
        (error: unknown) => {
          session.confirming(messageIds, false);
          throw error;
        },
      );
      // Only this path: ids this connection was sent, which its device's next replay would send again.
      // Made-up or earlier connections' ids go through the paced lookups, and a replay must not wait on those.
      this.inFlight.track(session.userId, session.deviceId, marked);
      return marked;
    }
    return this.unsentLookups.run(session.userId, async () => {
      let marked = 0;
      let size = UNSENT_FIRST_LOOKUP_IDS;
      for (let done = 0; done < messageIds.length; ) {
        // In debt from made-up ids: stop, and say how much of the frame was recorded.
        this.take(this.deliveredLimiter, session.userId, 0, 'delivered', done === 0 ? undefined : `the first ${done} ids were recorded`);
        const part = messageIds.slice(done, done + size);
        const result = await this.confirmIds(session, part);
        marked += await this.recorded(session, part, result);
        done += part.length;
        if (!result.unknownIds) size = Math.min(size * 2, UNSENT_MAX_LOOKUP_IDS); // real ids: larger parts, fewer round trips
      }
      return marked;
    });
  }

  /** The store's confirmation of these ids; a store failure is the client's `unavailable`. */
  private confirmIds(session: DeliverySession, messageIds: readonly string[]): MaybePromise<ConfirmResult> {
    // Not through guard(): this is the hot path, and each async layer is a promise and a closure per frame.
    let result: MaybePromise<ConfirmResult>;
    try {
      result = this.store.confirmIds(session.userId, session.deviceId, messageIds);
    } catch (error) {
      throw this.unavailable(error);
    }
    if (!isPromise(result)) return result;
    return result.catch((error: unknown) => {
      throw this.unavailable(error);
    });
  }

  /** What the store recorded for these ids: charged, remembered by the session, and settled (the marks made). */
  private recorded(session: DeliverySession, messageIds: readonly string[], result: ConfirmResult): number | Promise<number> {
    // An id that matched no stored message cost a lookup for nothing: a client confirms what it was
    // sent, so only a flood of made-up ids pays this (DELIVERED_UNKNOWN_ID_COST in all per such id).
    if (result.unknownIds) this.deliveredLimiter.charge(session.userId, result.unknownIds * (this.unknownIdCost - 1));
    // Only once recorded: a refused confirmation leaves its messages to be replayed and confirmed again.
    session.confirmed(messageIds);
    return this.settle(session, result);
  }

  /**
   * Ids this connection was not sent (or no longer remembers: a previous connection's, a long replay's
   * oldest, history read over HTTP) may be made up, and made-up ids are charged only once their lookup
   * is back. So they are looked up one frame at a time per user, in parts that start small and double
   * while every id is found, each part only while the user is not in debt: a flooder's pipelined
   * frames cannot all pass the limiter before the first lookup answers, and each of its lookups is a
   * small one (on FerretDB a large one is a collection scan that stalls everyone's writes behind it).
   */
  private readonly unsentLookups = new KeyedLock();

  /** v1.1: everything of a conversation up to seq. */
  async confirmUpTo(session: DeliverySession, conversationId: string, seq: number): Promise<number> {
    this.take(this.deliveredLimiter, session.userId, 1, 'delivered');
    await this.member(conversationId, session.userId);
    const writing = this.guard(() => this.store.confirmUpTo(session.userId, session.deviceId, conversationId, seq));
    this.inFlight.track(session.userId, session.deviceId, writing);
    const result = await writing;
    this.chargeMarks(session, result);
    session.confirmedThrough(conversationId, seq);
    return this.settle(session, result);
  }

  /**
   * A watermark took one token up front, and marks every message it covers: each mark beyond the first
   * is charged after the fact, as per-id confirmations pay for theirs. Without it a watermark covering
   * 30,000 messages cost what one id costs, and each mark is a DELIVERED ack to every open connection
   * of its sender (attacker probe: one frame, a bystander's send→SENT max 0.87 s).
   */
  private chargeMarks(session: DeliverySession, result: ConfirmResult): void {
    if (result.marks.length > 1) this.deliveredLimiter.charge(session.userId, result.marks.length - 1);
  }

  /** The user has read up to seq, on all devices; this device has everything up to it. */
  async read(session: DeliverySession, conversationId: string, seq: number): Promise<void> {
    this.take(this.readLimiter, session.userId, 1, 'read');
    const conversation = await this.member(conversationId, session.userId);
    const read = await this.guard(() => this.store.markRead(session.userId, conversationId, seq));
    if (!read) throw notFound();
    const confirmed = await this.guard(() => this.store.confirmUpTo(session.userId, session.deviceId, conversationId, read.readSeq));
    this.chargeMarks(session, confirmed);
    session.confirmedThrough(conversationId, read.readSeq);
    await this.settle(session, confirmed);
    // A read receipt goes to the reading connection too: it is how a client knows its mark was taken.
    // One that moved nothing is answered to that connection alone, with the mark as it stands.
    if (read.advanced) this.signals.receipt(conversation, session.userId, undefined, read.readSeq);
    else session.connection.send({ type: 'receipt', conversationId, userId: session.userId, readSeq: read.readSeq });
  }

  /**
   * An edit or delete event (or a tombstone) that this connection's client cannot show (it did not ask
   * for `?events=1`): confirmed for its device instead of sent, so it is not replayed to it forever.
   * Gathered per connection for one store call per turn; not rate limited (the server asked, not the
   * client). If the store refuses, it stays pending and the next replay withholds it again.
   */
  withhold(session: DeliverySession, messageId: string): void {
    let ids = this.withheld.get(session);
    if (!ids) {
      this.withheld.set(session, (ids = []));
      queueMicrotask(() => this.confirmWithheld(session));
    }
    ids.push(messageId);
  }

  private readonly withheld = new Map<DeliverySession, string[]>();

  private confirmWithheld(session: DeliverySession): void {
    const ids = this.withheld.get(session)!;
    this.withheld.delete(session);
    this.guard(() => this.store.confirmIds(session.userId, session.deviceId, ids))
      .then((result) => {
        session.confirmed(ids);
        return this.settle(session, result);
      })
      .catch(() => {}); // logged by guard; the events stay pending
  }

  /**
   * DELIVERED acks and receipts for what the store recorded (the confirming connection gets no receipt
   * of its own act): the marks made, or a promise of them only when a receipt's conversation must be
   * read from the store first (the directory has it nearly always: no promise per confirmation).
   */
  private settle(session: DeliverySession, result: ConfirmResult): number | Promise<number> {
    const now = Date.now();
    for (const mark of result.marks) {
      // An edit or delete event is confirmed like a message, but its author is told nothing (v1's DELIVERED is for messages).
      if (isDirectConversationId(mark.conversationId) && !isEventId(mark.messageId)) this.router.deliveredAck(mark.from, mark.messageId);
      this.metrics.deliveryLatency.observe(Math.max(0, now - mark.ts) / 1000);
    }
    if (result.marks.length > 0) this.metrics.deliveriesMarked.inc(result.marks.length);
    let reads: Promise<void>[] | undefined;
    for (const { conversationId, deliveredSeq } of result.advanced) {
      const cached = this.directory.cached(conversationId);
      if (cached) {
        this.signals.receipt(cached, session.userId, deliveredSeq, undefined, session.connection);
        continue;
      }
      const receipt = (conversation: Conversation | undefined) => {
        if (conversation) this.signals.receipt(conversation, session.userId, deliveredSeq, undefined, session.connection);
      };
      (reads ??= []).push(this.directory.get(conversationId).then(receipt, () => {}));
    }
    return reads ? Promise.all(reads).then(() => result.marks.length) : result.marks.length;
  }

  /** `recorded`: what of the frame was recorded before it was refused (default: nothing). */
  private take(limiter: RateLimiter, userId: string, cost: number, limit: 'delivered' | 'read', recorded = 'nothing was recorded'): void {
    const wait = limiter.take(userId, cost);
    if (wait === 0) return;
    this.metrics.rateLimited.inc({ limit });
    const what = limit === 'read' ? `Too many read marks; ${recorded}` : `Too many confirmations; ${recorded}, the messages stay pending: confirm them again after retryAfter`;
    throw new ChatError('rate_limited', what, { retryAfterSec: wait });
  }

  private async member(conversationId: string, userId: string) {
    const conversation = await this.guard(() => this.directory.forMember(conversationId, userId));
    if (!conversation) throw notFound();
    return conversation;
  }

  private async guard<T>(op: () => MaybePromise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  /** A store failure of a confirmation: counted, logged, and the error its client gets. */
  private unavailable(error: unknown): ChatError {
    this.metrics.storeErrors.inc({ op: 'confirm' });
    this.log.warn({ err: errorSummary(error) }, 'confirmation failed; the messages stay pending');
    return new ChatError('unavailable', 'Store unavailable; the confirmation was not recorded, the messages stay pending', { cause: error, retryAfterSec: retryAfterSec(error) });
  }
}

export function notFound(): ChatError {
  return new ChatError('not_found', 'Unknown conversation, or you are not a member of it');
}
