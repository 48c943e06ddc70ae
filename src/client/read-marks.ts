// Read marks (protocol v1.1 `read`): the user has read a conversation up to a seq, on every device.
// Marks are coalesced per conversation (the latest wins, written after a short delay) and never move
// back: a mark at or below what was already asked or acknowledged is dropped. A mark counts as
// acknowledged when a `receipt` for this user shows a readSeq at or past it; until then it is written
// again on every new socket (the frame or its receipt may have died with the old one), a few times at
// most: the server sends no receipt when another device had already read further.
import type { OutgoingFrame, ReceiptFrame } from '../protocol/client-codec.js';

/** Rewrites of one unacknowledged mark before it is given up (see above). */
const MAX_REWRITES = 5;

interface Wanted {
  readonly seq: number;
  written: boolean;
  rewrites: number;
}

export class ReadMarks {
  /** Asked and not acknowledged yet: conversationId → mark. */
  private readonly wanted = new Map<string, Wanted>();
  /** The highest readSeq acknowledged per conversation (bounded, oldest forgotten first). */
  private readonly acked = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly write: (frame: OutgoingFrame) => boolean,
    /** This user's id, once known. */
    private readonly me: () => string | undefined,
    private readonly delayMs: number,
    private readonly maxTracked: number,
  ) {}

  /** The application has shown everything up to seq. Returns false when it moves nothing forward. */
  mark(conversationId: string, seq: number): boolean {
    if (!Number.isSafeInteger(seq) || seq <= 0) return false;
    if (seq <= Math.max(this.acked.get(conversationId) ?? 0, this.wanted.get(conversationId)?.seq ?? 0)) return false;
    this.wanted.delete(conversationId);
    this.wanted.set(conversationId, { seq, written: false, rewrites: 0 });
    if (this.wanted.size > this.maxTracked) this.wanted.delete(this.wanted.keys().next().value!);
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
    return true;
  }

  /** The read watermark this client knows for the conversation (asked or acknowledged). */
  readSeq(conversationId: string): number {
    return Math.max(this.acked.get(conversationId) ?? 0, this.wanted.get(conversationId)?.seq ?? 0);
  }

  /** The conversation's seq space started again (a store reset): its old marks mean nothing there. */
  restart(conversationId: string): void {
    this.wanted.delete(conversationId);
    this.acked.delete(conversationId);
  }

  receipt(frame: ReceiptFrame): void {
    if (frame.readSeq === undefined || frame.userId !== this.me()) return;
    const { conversationId, readSeq } = frame;
    if (readSeq > (this.acked.get(conversationId) ?? 0)) {
      this.acked.delete(conversationId);
      this.acked.set(conversationId, readSeq);
      if (this.acked.size > this.maxTracked) this.acked.delete(this.acked.keys().next().value!);
    }
    const wanted = this.wanted.get(conversationId);
    if (wanted && wanted.seq <= readSeq) this.wanted.delete(conversationId);
  }

  /** A new socket: every unacknowledged mark goes out again. */
  socketOpened(): void {
    for (const [conversationId, wanted] of this.wanted) {
      if (!wanted.written) continue;
      if (++wanted.rewrites > MAX_REWRITES) this.wanted.delete(conversationId);
      else wanted.written = false;
    }
    this.flush();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The client closes: marks not yet written go out first, on the socket still open. */
  finish(): void {
    this.flush();
  }

  private flush(): void {
    this.stop();
    for (const [conversationId, wanted] of this.wanted) {
      if (wanted.written) continue;
      if (!this.write({ type: 'read', conversationId, seq: wanted.seq })) return; // the next socket writes it
      wanted.written = true;
    }
  }
}
