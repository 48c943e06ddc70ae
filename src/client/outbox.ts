// Sends not yet acknowledged, in the order the application made them. Every entry is written again,
// with the same messageId, on each new socket until its SENT ack arrives: the server stores a retry
// once and answers it as a duplicate, so a lost ack costs a round trip, never a second message.
import type { OutgoingFrame } from '../protocol/client-codec.js';
import type { EventAck, SendTarget, SentAck } from './types.js';

export interface OutboxEntry {
  /** The idempotency key: a send's messageId, or an edit's or delete's eventId (v1.2). */
  readonly messageId: string;
  readonly target: SendTarget;
  readonly body: string;
  /** v1.2: an edit or delete, written as this frame instead of a send. */
  readonly frame?: OutgoingFrame;
  readonly resolve: (ack: SentAck & EventAck) => void;
  readonly reject: (error: Error) => void;
  /** The socket this entry was last written on (0: not written on the current one). */
  socket: number;
  /** When it was last written (ms), for the ack timeout. */
  writtenAt: number;
  /** The rate-limited episode it was last written in (SendFlow), so its refusal is told apart. */
  episode: number;
  /** Retryable refusals so far (rate_limited, unavailable, internal), for this entry's backoff. */
  refusals: number;
}

export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();

  get size(): number {
    return this.entries.size;
  }

  add(entry: OutboxEntry): void {
    this.entries.set(entry.messageId, entry);
  }

  get(messageId: string): OutboxEntry | undefined {
    return this.entries.get(messageId);
  }

  /** Removes and returns the entry (its ack or a final error arrived). */
  take(messageId: string): OutboxEntry | undefined {
    const entry = this.entries.get(messageId);
    this.entries.delete(messageId);
    return entry;
  }

  /** Entries not yet written on `socket`, oldest first. */
  unwritten(socket: number): OutboxEntry[] {
    return [...this.entries.values()].filter((entry) => entry.socket !== socket);
  }

  /** Entries written on `socket` and not answered yet. */
  writtenOn(socket: number): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.socket === socket) count++;
    return count;
  }

  /** Marks `from` and every later entry as not written, so they go out again in order. */
  rewindFrom(messageId: string): void {
    let found = false;
    for (const entry of this.entries.values()) {
      if (entry.messageId === messageId) found = true;
      if (found) entry.socket = 0;
    }
  }

  /** Written the longest ago without an answer, on `socket`. */
  oldestWritten(socket: number): OutboxEntry | undefined {
    let oldest: OutboxEntry | undefined;
    for (const entry of this.entries.values()) {
      if (entry.socket === socket && (!oldest || entry.writtenAt < oldest.writtenAt)) oldest = entry;
    }
    return oldest;
  }

  /** Empties the outbox, handing back what was in it. */
  drain(): OutboxEntry[] {
    const all = [...this.entries.values()];
    this.entries.clear();
    return all;
  }
}
