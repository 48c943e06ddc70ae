// Replay reads each conversation in seq order, page by page, and merges the conversations by accept
// time, so a device that was away gets its messages in the order they were accepted (as v1 did for a
// user's messages from several senders), and within a conversation always in seq order.
import { covers } from '../store/cursor.js';
import { mapLimited } from '../map-limited.js';
import type { ReplayTarget, Store, StoredMessage } from '../store/store.js';

/** Page reads in flight at once for one replay (one per conversation). */
const PAGE_READS_AT_ONCE = 16;
const NEEDS_PAGE = Symbol('needs a page');

interface Stream {
  readonly target: ReplayTarget;
  afterSeq: number;
  page: StoredMessage[];
  at: number;
  done: boolean;
}

export class ReplayMerge {
  private readonly streams: Stream[];

  constructor(
    private readonly store: Store,
    targets: readonly ReplayTarget[],
    /** Messages read per conversation per store call. */
    private readonly pageSize: number,
    /** Messages this device already has (its own sends). */
    private readonly skip: (message: StoredMessage) => boolean,
  ) {
    this.streams = targets.map((target) => ({ target, afterSeq: target.cursor.upTo, page: [], at: 0, done: false }));
  }

  /** The next message to replay, oldest accept time first; undefined when every conversation is done. */
  async next(): Promise<StoredMessage | undefined> {
    for (;;) {
      let best: Stream | undefined;
      let bestMessage: StoredMessage | undefined;
      let empty: Stream[] | undefined;
      for (const stream of this.streams) {
        const head = this.head(stream);
        if (head === NEEDS_PAGE) (empty ??= []).push(stream);
        else if (head && (!bestMessage || head.ts < bestMessage.ts)) {
          best = stream;
          bestMessage = head;
        }
      }
      if (!empty) {
        if (best) best.at++;
        return bestMessage;
      }
      // Every stream without a page reads its next one, in parallel: at the start that is every
      // conversation, and one after another a reconnect in 100 conversations waited for 100 round
      // trips to the database before its first message.
      await mapLimited(empty, PAGE_READS_AT_ONCE, (stream) => this.fill(stream));
    }
  }

  /** The stream's next message to replay (past what the cursor covers), undefined when done, or NEEDS_PAGE. */
  private head(stream: Stream): StoredMessage | undefined | typeof NEEDS_PAGE {
    while (stream.at < stream.page.length) {
      const message = stream.page[stream.at]!;
      if (!covers(stream.target.cursor, message.seq) && !this.skip(message)) return message;
      stream.at++;
    }
    return stream.done ? undefined : NEEDS_PAGE;
  }

  private async fill(stream: Stream): Promise<void> {
    const page = await this.store.messagesAfter(stream.target.conversationId, stream.afterSeq, this.pageSize);
    stream.page = page;
    stream.at = 0;
    if (page.length < this.pageSize) stream.done = true;
    if (page.length > 0) stream.afterSeq = page[page.length - 1]!.seq;
  }
}
