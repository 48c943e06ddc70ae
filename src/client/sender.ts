// The sending side: every send waits in the outbox until its SENT ack, and is written on each new
// socket, in the order the application made them. A retryable refusal (nothing was stored) holds the
// outbox for at least the server's retryAfter plus jitter, then that send and every later one go out
// again, in order: this is what keeps a sender's messages in send order through rate limits and store
// outages, without a crowd of clients retrying in step. How many go out at once, and how fast after a
// `rate_limited`, is SendFlow's: a burst must not earn the socket the server's abuse close (1008).
import { exponentialCeiling } from '../backoff.js';
import type { ErrorFrame, EventAckFrame, OutgoingFrame, SentAckFrame } from '../protocol/client-codec.js';
import { CONVERSATION_ID_PATTERN, MESSAGE_ID_PATTERN, USER_ID_PATTERN } from '../protocol/ids.js';
import { ChatClientError, type Report } from './client-error.js';
import { newMessageId } from './ids.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import { RetryPause, retryFloorMs } from './retry-pause.js';
import type { SendFlow } from './send-flow.js';
import type { ClientErrorCode, EventAck, SendTarget, SentAck } from './types.js';

/** Refusals after which a send is simply retried: nothing was stored. */
const RETRYABLE = new Set<string>(['rate_limited', 'unavailable', 'internal']);

/** What the sender needs of the connection. */
export interface SendChannel {
  /** Which socket is the current one. */
  readonly generation: number;
  readonly closed: boolean;
  write(frame: OutgoingFrame): boolean;
}

export class Sender {
  private readonly outbox = new Outbox();
  /** One promise per messageId: sending an id again while it is pending joins the first send. */
  private readonly promises = new Map<string, Promise<SentAck | EventAck>>();
  /** Holds every send after a retryable refusal; the sends go out again, in order, when it ends. */
  private readonly pause = new RetryPause(() => this.flush());
  /** Set while the pace holds the next write back. */
  private paceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly channel: SendChannel,
    private readonly maxOutbox: number,
    private readonly flow: SendFlow,
    private readonly report: Report,
  ) {}

  get pending(): number {
    return this.outbox.size;
  }

  send(target: SendTarget, body: string, messageId: string = newMessageId()): Promise<SentAck> {
    const refusal = refusalOf(target) ?? bodyRefusal(body) ?? idRefusal('messageId', messageId);
    const copy: SendTarget | undefined = refusal ? undefined : target.to !== undefined ? { to: target.to } : { conversationId: target.conversationId };
    return this.enqueue(messageId, undefined, refusal, { target: copy!, body });
  }

  /**
   * v1.2: an edit or delete, queued in order with the sends (an edit of a message still unsent goes
   * after it) and retried with the same eventId until its ack: the server applies it once.
   */
  sendEvent(eventId: string, frame: OutgoingFrame & { readonly type: 'edit' | 'delete' }): Promise<EventAck> {
    const refusal = idRefusal('messageId', frame.messageId) ?? (frame.type === 'edit' ? bodyRefusal(frame.body) ?? idRefusal('editId', frame.editId) : undefined);
    return this.enqueue(frame.messageId, eventId, refusal, { target: { to: '' }, body: '', frame });
  }

  /**
   * Queues one outbox entry under its idempotency key (a send's messageId, or an event's eventId), or
   * joins the pending one with that key; rejects at once what is refused, and when the client is closed or full.
   */
  private enqueue<A extends SentAck | EventAck>(messageId: string, eventId: string | undefined, refusal: string | undefined, entry: Pick<OutboxEntry, 'target' | 'body' | 'frame'>): Promise<A> {
    const key = eventId ?? messageId;
    const existing = this.promises.get(key);
    if (existing) return existing as Promise<A>;
    const fail = (code: ClientErrorCode, message: string) => Promise.reject(new ChatClientError(code, message, messageId, undefined, eventId));
    if (this.channel.closed) return fail('closed', 'The client is closed');
    if (refusal) return fail('bad_request', refusal);
    if (this.outbox.size >= this.maxOutbox) return fail('outbox_full', 'Too many unacknowledged sends');
    const promise = new Promise<A>((resolve, reject) => {
      this.outbox.add({ messageId: key, ...entry, resolve: resolve as OutboxEntry['resolve'], reject, socket: 0, writtenAt: 0, episode: 0, refusals: 0 });
    });
    this.promises.set(key, promise);
    const forget = () => this.promises.delete(key);
    promise.then(forget, forget);
    this.flush();
    return promise;
  }

  /**
   * Writes the sends not yet written on the current socket, oldest first, as far as the window and the
   * pace allow (unless held); each answer makes room for the next.
   */
  flush(): void {
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    if (this.pause.active) return;
    const generation = this.channel.generation;
    let inFlight = this.outbox.writtenOn(generation);
    for (const entry of this.outbox.unwritten(generation)) {
      if (inFlight >= this.flow.window) return;
      const wait = this.flow.waitMs();
      if (wait > 0) return void (this.paceTimer = setTimeout(() => this.flush(), wait));
      const { messageId, target, body } = entry;
      const frame = entry.frame ?? (target.to !== undefined ? { type: 'send' as const, messageId, to: target.to, body } : { type: 'send' as const, messageId, conversationId: target.conversationId, body });
      if (!this.channel.write(frame)) return;
      entry.socket = generation;
      entry.writtenAt = Date.now();
      entry.episode = this.flow.currentEpisode;
      inFlight++;
      this.flow.wrote();
    }
  }

  acked(frame: SentAckFrame | EventAckFrame): void {
    const entry = this.outbox.take(frame.status === 'SENT' ? frame.messageId : frame.eventId);
    if (!entry) return;
    this.flow.acked();
    if (frame.status !== 'SENT') {
      const { type: _, status, ...ack } = frame;
      entry.resolve({ ...ack, event: status === 'EDITED' ? 'edited' : 'deleted' } as SentAck & EventAck);
    } else {
      const { messageId, ts, duplicate, conversationId, seq } = frame;
      entry.resolve({ messageId, ts, duplicate, ...(conversationId !== undefined ? { conversationId, seq } : {}) } as SentAck & EventAck);
    }
    this.flush();
  }

  /** An error frame about one of the pending sends: retried later, or rejected for good. False when it is not about one. */
  refused(frame: ErrorFrame): boolean {
    const { code, message, retryAfter } = frame;
    const key = frame.eventId ?? frame.messageId;
    const entry = key !== undefined ? this.outbox.get(key) : undefined;
    if (!entry) return false;
    // As the wire has them: an edit's or delete's error carries the message's id and the event's.
    const ids = idsOf(entry);
    const messageId = frame.messageId ?? ids.messageId;
    const eventId = frame.eventId ?? ids.eventId;
    if (RETRYABLE.has(code)) {
      entry.refusals++;
      if (code === 'rate_limited') this.flow.rateLimited(entry.episode);
      // Nothing was stored: hold the outbox, then send this one and every later one again, in order.
      // The wait is at least what the server asked (retryAfter), else 1 s doubling per refusal of this
      // send up to 30 s; jitter comes on top (RetryPause).
      this.pause.extend(retryFloorMs(retryAfter, exponentialCeiling(1000, 30_000, entry.refusals - 1)));
      this.outbox.rewindFrom(entry.messageId);
      this.report(code, message, true, messageId, retryAfter, eventId);
    } else {
      this.outbox.take(entry.messageId);
      entry.reject(new ChatClientError(code, message, messageId, undefined, eventId));
      this.report(code, message, false, messageId, retryAfter, eventId);
      this.flush();
    }
    return true;
  }

  /** When the oldest send written on socket `generation` and still unanswered went out (ms). */
  oldestWrittenAt(generation: number): number | undefined {
    return this.outbox.oldestWritten(generation)?.writtenAt;
  }

  /** Rejects every pending send (the client ends). */
  rejectAll(code: ClientErrorCode, message: string): void {
    for (const entry of this.outbox.drain()) {
      const { messageId, eventId } = idsOf(entry);
      entry.reject(new ChatClientError(code, message, messageId, undefined, eventId));
    }
  }

  stop(): void {
    this.pause.stop();
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
  }
}

/** A send's messageId; an edit's or delete's (v1.2) message and eventId (the entry's key). */
function idsOf(entry: OutboxEntry): { messageId: string; eventId?: string } {
  return entry.frame && 'messageId' in entry.frame ? { messageId: entry.frame.messageId, eventId: entry.messageId } : { messageId: entry.messageId };
}

function bodyRefusal(body: unknown): string | undefined {
  return typeof body !== 'string' || body.length === 0 ? '"body" must be a non-empty string' : undefined;
}

function idRefusal(field: 'messageId' | 'editId', id: string): string | undefined {
  return MESSAGE_ID_PATTERN.test(id) ? undefined : `"${field}" must be 1-64 characters [A-Za-z0-9_-]`;
}

/** Why a send's target is unusable, or undefined when it is fine. */
function refusalOf(target: SendTarget): string | undefined {
  if (typeof target !== 'object' || target === null || (target.to === undefined) === (target.conversationId === undefined)) return 'A send goes to exactly one of { to } and { conversationId }';
  if (target.to !== undefined && !USER_ID_PATTERN.test(target.to)) return '"to" must be a user id of 1-64 characters [A-Za-z0-9_.@-] other than . and ..';
  if (target.conversationId !== undefined && !CONVERSATION_ID_PATTERN.test(target.conversationId)) return '"conversationId" must be a conversation id of 1-128 characters [A-Za-z0-9_.@:-]';
  return undefined;
}
