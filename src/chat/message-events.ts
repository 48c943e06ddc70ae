// Edits and deletes (protocol v1.2), for both doors (WebSocket frames, PATCH/DELETE over HTTP). Each
// is an event stored in the message's conversation like a message (DB-first, its own seq, idempotent
// by its id), then applied to the message, then delivered live; a device that was away is replayed it
// and confirms it like a message, so it learns of it exactly once.
//
// Who may: the author edits and deletes; a group's owner deletes too. Anyone else who can see the
// message gets `forbidden`; who cannot see it (not a member, unknown id) gets `not_found`.
import { KeyedLock } from '../lock.js';
import { errorSummary, type Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { ChatError } from '../errors.js';
import type { DeleteInput, EditInput } from './commands.js';
import { type MessageEventKind, type Store, type StoredMessage } from '../store/store.js';
import type { ConversationDirectory } from './directory.js';
import { deleteEventId, editEventId, isEventId } from './event-ids.js';
import type { RateLimiter } from './rate-limit.js';
import type { DeliveryRouter } from './router.js';
import { retryAfterSec } from './send.js';
import type { MaybePromise } from '../maybe-promise.js';

export interface EventOutcome {
  /** The stored event (its messageId is the eventId). */
  readonly event: StoredMessage;
  /** The message as it stands after the event. */
  readonly message: StoredMessage | undefined;
  readonly duplicate: boolean;
}

/** One edit or delete as the service handles it: the message, the event's id, and who asks from where. */
interface EventRequest {
  readonly userId: string;
  readonly kind: MessageEventKind;
  readonly messageId: string;
  readonly eventId: string;
  /** The new body; '' for a delete. */
  readonly body: string;
  readonly fromDevice: string | undefined;
  readonly inConversation: string | undefined;
}

export class MessageEventService {
  /**
   * One edit or delete of a message at a time on this instance, in the order they came. Concurrent
   * ones raced: an edit pipelined behind a delete was stored and applied after it (on FerretDB v1,
   * whose updates write the whole document back, the edit's write even undid the delete), and 64-100
   * pipelined edits of one group message, within the send burst, deadlocked FerretDB's connection
   * pool for every user (an outside probe, 2026-12-07). Across instances a real MongoDB's
   * conditional update keeps "deleted is final"; see applyEvent.
   */
  private readonly perMessage = new KeyedLock();

  constructor(
    private readonly store: Store,
    private readonly router: DeliveryRouter,
    private readonly directory: ConversationDirectory,
    /** The send limiter: an edit or delete costs what a send costs. */
    private readonly rateLimiter: RateLimiter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** `inConversation`: the HTTP route's conversation, which must be the message's. */
  edit(userId: string, input: EditInput, fromDevice?: string, inConversation?: string): Promise<EventOutcome> {
    return this.apply({ userId, kind: 'edited', messageId: input.messageId, eventId: editEventId(input.editId), body: input.body, fromDevice, inConversation });
  }

  remove(userId: string, input: DeleteInput, fromDevice?: string, inConversation?: string): Promise<EventOutcome> {
    return this.apply({ userId, kind: 'deleted', messageId: input.messageId, eventId: deleteEventId(input.messageId), body: '', fromDevice, inConversation });
  }

  /** Every refusal names the event too, so a client matches it to the request it refused. */
  private async apply(request: EventRequest): Promise<EventOutcome> {
    try {
      return await this.applyOnce(request);
    } catch (error) {
      if (!(error instanceof ChatError)) throw error;
      const { messageId, eventId } = request;
      throw new ChatError(error.code, error.message, { messageId, eventId, ...(error.retryAfterSec !== undefined ? { retryAfterSec: error.retryAfterSec } : {}), cause: error.cause });
    }
  }

  private applyOnce(request: EventRequest): Promise<EventOutcome> {
    const wait = this.rateLimiter.take(request.userId);
    if (wait > 0) {
      this.metrics.rateLimited.inc({ limit: 'send' });
      throw new ChatError('rate_limited', undefined, { messageId: request.messageId, retryAfterSec: wait });
    }
    return this.perMessage.run(request.messageId, () => this.applyInTurn(request));
  }

  private async applyInTurn({ userId, kind, messageId, eventId, body, fromDevice, inConversation }: EventRequest): Promise<EventOutcome> {
    const target = await this.guard(() => this.store.getMessage(messageId), messageId);
    const unknown = () => new ChatError('not_found', 'Unknown message, or you are not a member of its conversation', { messageId });
    if (!target || target.event || isEventId(messageId) || (inConversation !== undefined && target.conversationId !== inConversation)) throw unknown();
    const conversation = await this.guard(() => this.directory.forMember(target.conversationId, userId), messageId);
    if (!conversation) throw unknown();
    const owner = conversation.kind === 'group' && conversation.ownerId === userId;
    if (target.from !== userId && !(kind === 'deleted' && owner)) {
      throw new ChatError('forbidden', kind === 'edited' ? 'Only the author can edit a message' : 'Only the author or the group owner can delete a message', { messageId });
    }
    if (target.deleted) {
      // Deleted is final. A retry of this very request (or a second delete) answers with the stored event.
      const stored = await this.guard(() => this.store.getMessage(eventId), messageId);
      if (stored?.event?.target === messageId && (kind === 'deleted' || stored.from === userId)) return { event: stored, message: target, duplicate: true };
      throw new ChatError('not_found', 'The message was deleted', { messageId });
    }
    const ts = Date.now();
    const result = await this.guard(
      () => this.store.persist({ messageId: eventId, conversationId: target.conversationId, from: userId, ...(fromDevice !== undefined ? { fromDevice } : {}), body, ts, event: { kind, target: messageId } }),
      messageId,
    );
    if (result.kind === 'not_member') throw unknown();
    if (result.kind === 'banned') throw new ChatError('banned', undefined, { messageId });
    if (result.kind === 'conflict') throw new ChatError('conflict', kind === 'edited' ? 'editId already used for another edit' : undefined, { messageId });
    // Applied on a retry too: that repairs a crash between storing the event and applying it.
    const message = await this.guard(() => this.store.applyEvent(result.message), messageId);
    this.metrics.messageEvents.inc({ event: kind, outcome: result.kind === 'created' ? 'new' : 'duplicate' });
    // An edit that a delete overtook (on another instance) keeps its seq but not its text, as the
    // store keeps it: a deleted text is never sent again.
    const event = kind === 'edited' && message?.deleted ? { ...result.message, body: '' } : result.message;
    if (result.kind === 'created') this.router.deliver(event);
    return { event, message, duplicate: result.kind === 'duplicate' };
  }

  private async guard<T>(op: () => MaybePromise<T>, messageId: string): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (error instanceof ChatError) throw error;
      this.metrics.storeErrors.inc({ op: 'message_event' });
      this.log.warn({ err: errorSummary(error), messageId }, 'edit or delete failed; refused as unavailable');
      throw new ChatError('unavailable', 'Store unavailable; nothing was changed, retry with the same ids', { messageId, retryAfterSec: retryAfterSec(error), cause: error });
    }
  }
}
