// Replay reads each conversation in seq order, page by page, and merges the conversations by accept
// time, so a device that was away gets its messages in the order they were accepted (as v1 did for a
// user's messages from several senders), and within a conversation always in seq order.
//
// The conversations wait in a min-heap keyed by their next message, so each message costs O(log n) in
// the number of conversations. A scan of every conversation per message was quadratic: a device in
// 10,000 conversations with one message pending in each held the event loop for 1.6 s per connect or
// `sync`, every other user's sends waiting behind it.
//
// Each round reads the pages of every conversation that needs one in one store call (messagesIn: a
// query per 256 conversations on MongoDB), as seq ranges of `pageSize` from where each stopped. A
// conversation is done once its ranges pass the newest seq its target saw: what is stored after that
// arrives live, and the replay holds live messages until it is done (replay.ts).
import TinyQueue from 'tinyqueue';
import { covers } from '../store/cursor.js';
import { nextTurn } from '../turn-end.js';
import type { ReplayTarget, Store, StoredMessage } from '../store/store.js';

/**
 * Pages read per round and event-loop turn. The memory store answers at once, so the first pages of
 * 10,000 conversations were read in one turn (10–38 ms) while other users' frames waited.
 */
const PAGE_READS_PER_TURN = 500;

interface Stream {
  readonly target: ReplayTarget;
  /** Its position in the targets: the tie-break between equal accept times, so the order is stable. */
  readonly order: number;
  afterSeq: number;
  page: StoredMessage[];
  at: number;
  done: boolean;
}

/** Oldest accept time first; between equal times, the conversation listed first. */
function olderHead(a: Stream, b: Stream): number {
  return a.page[a.at]!.ts - b.page[b.at]!.ts || a.order - b.order;
}

export class ReplayMerge {
  /** Streams whose next message is in their page, by that message. */
  private readonly ready = new TinyQueue<Stream>([], olderHead);
  /** Streams that need a page read before they can be ranked: all of them at first, then the one just taken from. */
  private readonly unread: Stream[];

  constructor(
    private readonly store: Store,
    targets: readonly ReplayTarget[],
    /** Messages read per conversation per store call. */
    private readonly pageSize: number,
    /** Messages this device already has (its own sends). */
    private readonly skip: (message: StoredMessage) => boolean,
    /** The replay was given up (its connection closed): no more reads. */
    private readonly stopped: () => boolean = () => false,
    /** Runs each round of `count` page reads: the replay service charges them and lets one user's replays read one round at a time. */
    private readonly gate: (count: number, reads: () => Promise<unknown>) => Promise<unknown> = (_, reads) => reads(),
  ) {
    this.unread = targets.map((target, order) => ({ target, order, afterSeq: target.cursor.upTo, page: [], at: 0, done: false }));
  }

  /** The next message to replay, oldest accept time first; undefined when every conversation is done. */
  async next(): Promise<StoredMessage | undefined> {
    while (this.unread.length > 0) {
      // A closed connection's replay read on: 2,500 conversations' pages, for each of a user's
      // reconnects, held FerretDB for minutes after the sockets were gone (store probe).
      if (this.stopped()) return undefined;
      const unread = this.unread.splice(0, PAGE_READS_PER_TURN);
      // Together: at the start that is every conversation, and one after another a reconnect in 100
      // conversations waited for 100 round trips to the database before its first message.
      await this.gate(unread.length, () => (this.stopped() ? Promise.resolve() : this.fill(unread)));
      if (this.stopped()) return undefined;
      for (const stream of unread) this.rank(stream);
      if (unread.length === PAGE_READS_PER_TURN && this.unread.length > 0) await nextTurn();
    }
    const stream = this.ready.pop();
    if (!stream) return undefined;
    const message = stream.page[stream.at++]!;
    this.rank(stream);
    return message;
  }

  /** Skips what the device has, then queues the stream by its next message, or for a page read; drops it when done. */
  private rank(stream: Stream): void {
    while (stream.at < stream.page.length) {
      const message = stream.page[stream.at]!;
      if (!covers(stream.target.cursor, message.seq) && !this.skip(message)) {
        this.ready.push(stream);
        return;
      }
      stream.at++;
    }
    if (!stream.done) this.unread.push(stream);
  }

  /** Reads each stream's next range of seqs; a stream whose range reaches its target's newest seq is done. */
  private async fill(streams: readonly Stream[]): Promise<void> {
    const pages = await this.store.messagesIn(streams.map(({ target, afterSeq }) => ({ conversationId: target.conversationId, afterSeq, toSeq: afterSeq + this.pageSize })));
    streams.forEach((stream, i) => {
      stream.page = pages[i]!;
      stream.at = 0;
      stream.afterSeq += this.pageSize;
      if (stream.afterSeq >= stream.target.lastSeq) stream.done = true;
    });
  }
}
