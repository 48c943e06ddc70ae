// The receiving side: each message goes to the application once (repeats are dropped by messageId)
// and is confirmed with batched `delivered` frames: by id, or (v1.1) by a conversation's watermark
// where SeqOrder says the device has everything up to it, one frame for any number of messages. A repeat of a message the application confirmed
// is confirmed again: the repeat means the first confirmation was lost. Confirmations not yet written
// when a socket dies are dropped, and so is a confirmation the server could not record: the messages
// stay pending on the server and come back with the next replay, which confirms them again; closing
// the client writes what is queued first. After such a refusal (unavailable, rate_limited)
// confirmations wait for the server's retryAfter plus jitter (RetryPause), then a `sync` asks for
// that replay.
import type { ErrorFrame, OutgoingFrame } from '../protocol/client-codec.js';
import type { Report } from './client-error.js';
import { RetryPause, retryFloorMs } from './retry-pause.js';
import { SeenIds } from './seen.js';

/** The server takes at most MAX_DELIVERED_IDS (default 1000) ids per frame. */
const MAX_CONFIRM_BATCH = 1000;
/** Refusals of a confirmation (or a replay) that a later `sync` recovers from: nothing was recorded. */
const RETRYABLE = new Set<string>(['rate_limited', 'unavailable']);
/** The wait when the server names none (seconds). */
const DEFAULT_RETRY_AFTER = 1;

export interface ConfirmOptions {
  /** Confirm each message after the application's listeners ran (else by confirm()). */
  readonly autoConfirm: boolean;
  /** How long to gather confirmations into one frame (ms). */
  readonly confirmDelayMs: number;
  /** messageIds remembered to drop repeats. */
  readonly dedupeSize: number;
}

export class Confirmations {
  private readonly seen: SeenIds;
  private queued: string[] = [];
  /** Watermarks to write: conversationId → seq. */
  private readonly marks = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** After a refused confirmation: nothing is confirmed until it ends, then what waited goes out and a `sync` follows. */
  private readonly pause = new RetryPause(() => {
    this.flush();
    this.write({ type: 'sync' });
  });

  constructor(
    private readonly write: (frame: OutgoingFrame) => boolean,
    private readonly options: ConfirmOptions,
    private readonly report: Report,
  ) {
    this.seen = new SeenIds(options.dedupeSize);
  }

  /** A `message` frame arrived: true the first time (show it), false for a repeat (confirmed again if it had been). */
  firstSight(messageId: string): boolean {
    if (this.seen.has(messageId)) {
      // A repeat: the earlier confirmation was lost (or not sent yet). Confirm again if the app had.
      if (this.seen.isConfirmed(messageId)) this.queue(messageId);
      return false;
    }
    this.seen.add(messageId, this.options.autoConfirm);
    return true;
  }

  /** Whether the application was handed this messageId (as far as the bounded memory reaches). */
  wasShown(messageId: string): boolean {
    return this.seen.has(messageId);
  }

  /**
   * v1.1: the conversation's seq space started again (a store reset): a watermark not yet written
   * belongs to the old one and would confirm new messages the application has not been shown.
   */
  restart(conversationId: string): void {
    this.marks.delete(conversationId);
  }

  /** The application's listeners saw the message. */
  shown(messageId: string): void {
    if (this.options.autoConfirm) this.queue(messageId);
  }

  /**
   * v1.1: the listeners saw a message of a conversation the device has everything of up to `solid`
   * (SeqOrder.solid), or confirm it by id when there is no such watermark. By hand (autoConfirm off),
   * only confirm() confirms, by id.
   */
  shownInConversation(messageId: string, conversationId: string, solid: number | undefined): void {
    if (!this.options.autoConfirm) return;
    if (solid !== undefined) this.queueMark(conversationId, solid);
    else this.queue(messageId);
  }

  /** v1.1: a message the application already had came again: its confirmation was lost. */
  repeatInConversation(messageId: string, conversationId: string, seq: number, solid: number | undefined): void {
    if (this.options.autoConfirm && solid !== undefined && solid >= seq) this.queueMark(conversationId, solid);
    else if (this.options.autoConfirm || this.seen.isConfirmed(messageId)) this.queue(messageId);
  }

  /** Confirms by hand (autoConfirm off). */
  confirm(messageIds: readonly string[]): void {
    for (const id of messageIds) {
      this.seen.markConfirmed(id);
      this.queue(id);
    }
  }

  /**
   * An error frame without a messageId: a confirmation or a replay the server could not complete.
   * `unavailable` and `rate_limited` are answered by a `sync` after the pause (the replay brings back
   * what is still pending); false when the error is not one this side retries.
   */
  refused(frame: ErrorFrame): boolean {
    if (frame.messageId !== undefined || !RETRYABLE.has(frame.code)) return false;
    this.report(frame.code, frame.message, true, undefined, frame.retryAfter);
    this.pause.extend(retryFloorMs(frame.retryAfter, DEFAULT_RETRY_AFTER * 1000));
    return true;
  }

  /** The socket died: what was not written yet is replayed on the next socket and confirmed then. */
  socketClosed(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queued = [];
    this.marks.clear();
  }

  stop(): void {
    this.socketClosed();
    this.pause.stop();
  }

  /**
   * The client closes: what is queued goes out first, on the socket still open (a confirmation dropped
   * here would bring the message back on the next run), then stop.
   */
  finish(): void {
    this.flush();
    this.stop();
  }

  private queue(messageId: string): void {
    if (this.pause.active) {
      // Held until the pause ends; past one batch, the sync that ends it brings the rest back anyway.
      if (this.queued.length < MAX_CONFIRM_BATCH) this.queued.push(messageId);
      return;
    }
    this.queued.push(messageId);
    if (this.queued.length >= MAX_CONFIRM_BATCH) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.options.confirmDelayMs);
  }

  private queueMark(conversationId: string, seq: number): void {
    if (seq <= 0) return;
    this.marks.set(conversationId, Math.max(seq, this.marks.get(conversationId) ?? 0));
    if (this.pause.active) return;
    this.timer ??= setTimeout(() => this.flush(), this.options.confirmDelayMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pause.active) return; // the pause's end flushes
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, MAX_CONFIRM_BATCH);
      if (!this.write({ type: 'delivered', messageIds: [...new Set(batch)] })) return this.socketClosed(); // they come back on the next replay
    }
    for (const [conversationId, seq] of this.marks) {
      if (!this.write({ type: 'delivered', conversationId, seq })) return this.socketClosed();
    }
    this.marks.clear();
  }
}
