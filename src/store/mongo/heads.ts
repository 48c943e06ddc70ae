// A conversation's head (its last seq) is not stored anywhere: it is the highest seq among its
// messages, read from the unique (conversationId, seq) index. A stored counter would need an atomic
// increment, which FerretDB v1 does not have (concurrent updates are read-modify-write there); an
// insert into a unique index is atomic everywhere, so the messages themselves are the counter.
//
// Each process caches the heads it has seen. A cached head can only be behind the truth (seqs are
// never removed), so using it is safe: a persist that assigns from a stale head collides on the
// unique index and re-reads (persist-batch.ts). Reads that must see other processes' messages
// (replayTargets, clamping a confirmation or a read mark) ask the database, not this cache.
import { LRUCache } from 'lru-cache';
import type { Collection } from 'mongodb';
import type { MessageDoc } from './documents.js';

export class HeadCache {
  private readonly heads: LRUCache<string, number>;

  constructor(max: number, private readonly messages: () => Collection<MessageDoc>) {
    this.heads = new LRUCache({ max: Math.max(1, max) });
  }

  /** The cached head, or the stored one if this process has not seen the conversation. */
  async get(conversationId: string): Promise<number> {
    return this.heads.get(conversationId) ?? this.read(conversationId);
  }

  /** The stored head, now (and the cache learns it). */
  async read(conversationId: string): Promise<number> {
    const last = await this.messages().findOne({ conversationId }, { sort: { seq: -1 }, projection: { _id: 0, seq: 1 } });
    const head = last ? Number(last.seq) : 0;
    this.note(conversationId, head);
    return head;
  }

  /** The stored head, unless the cache already knows it is at least `seq` (then that is enough). */
  async atLeast(conversationId: string, seq: number): Promise<number> {
    const cached = this.heads.get(conversationId);
    return cached !== undefined && cached >= seq ? cached : this.read(conversationId);
  }

  /** The cached head without reading the database, or undefined; does not refresh its recency. */
  peek(conversationId: string): number | undefined {
    return this.heads.peek(conversationId);
  }

  /** Seqs up to `seq` are stored in `conversationId`. */
  note(conversationId: string, seq: number): void {
    const cached = this.heads.get(conversationId);
    if (cached === undefined || seq > cached) this.heads.set(conversationId, seq);
  }

  forget(conversationId: string): void {
    this.heads.delete(conversationId);
  }
}
