// The memory store's index of every message by its id: an open-addressing hash table in one Int32Array
// (each slot: the id's hash, then the record's ordinal), the records themselves in chunked arrays in
// the order they came.
//
// Why not a Map:
// - V8 caps a Map at 2^24 entries: the 16,777,217th message (under an hour at 5,000 msgs/s) made
//   every later persist throw "RangeError: Map maximum size exceeded". Here the bound is memory.
// - A miss (every send's id is new) reads stored hashes next to each other and touches a record only
//   when its 32-bit hash matches, where a Map walks a chain of entries and reads each one's key
//   string. Measured in the closed-loop benchmark at ~1M messages, the CPU is the same either way:
//   the Map's cache misses became this hash's loop (bench/RESULTS.md, "The memory store's message
//   index"). What this buys is the bound.
//
// The hash is seeded Jenkins one-at-a-time (the string hash V8 itself long used), the seed random per
// process, so a client cannot choose ids that all land in one run of slots. Ids are never removed: the
// store frees no message.
import { randomInt } from 'node:crypto';

/** Records per chunk: chunked so no single JS array approaches V8's array length limit. */
const CHUNK_SHIFT = 16;
const CHUNK_MASK = (1 << CHUNK_SHIFT) - 1;
/** Slots to begin with (a power of two); the table doubles at half full. */
const INITIAL_SLOTS = 1024;
/** Hash 0 marks an empty slot. */
const EMPTY = 0;

export class MessageIndex<T extends { readonly messageId: string }> {
  /** Slot i: table[2i] the hash (EMPTY: free), table[2i + 1] the record's ordinal. */
  private table = new Int32Array(INITIAL_SLOTS * 2);
  private mask = INITIAL_SLOTS - 1;
  private readonly chunks: T[][] = [];
  private count = 0;

  constructor(private readonly seed = randomInt(0x7fffffff)) {}

  get size(): number {
    return this.count;
  }

  get(messageId: string): T | undefined {
    const slot = this.find(messageId, this.hash(messageId));
    return slot < 0 ? undefined : this.record(this.table[slot * 2 + 1]!);
  }

  /** Adds the record, or puts it in place of the one with its id (the record keeps that one's position in `values`). */
  set(record: T): void {
    const hash = this.hash(record.messageId);
    const slot = this.find(record.messageId, hash);
    if (slot >= 0) {
      const ordinal = this.table[slot * 2 + 1]!;
      this.chunks[ordinal >>> CHUNK_SHIFT]![ordinal & CHUNK_MASK] = record;
      return;
    }
    // Ordinals are Int32; 2^31 messages would take hundreds of GB of memory first.
    if (this.count === 0x7fffffff) throw new Error('The memory store holds at most 2^31 - 1 messages');
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const ordinal = this.count++;
    // A chunk is made at its full size: grown by push, each larger copy would be young garbage that
    // scavenges copy and promote.
    if ((ordinal & CHUNK_MASK) === 0) this.chunks.push(new Array<T>(CHUNK_MASK + 1));
    this.chunks[ordinal >>> CHUNK_SHIFT]![ordinal & CHUNK_MASK] = record;
    this.place(hash, ordinal);
  }

  /** Every record, in the order their ids were first set. */
  *values(): IterableIterator<T> {
    for (let ordinal = 0; ordinal < this.count; ordinal++) yield this.record(ordinal);
  }

  private record(ordinal: number): T {
    return this.chunks[ordinal >>> CHUNK_SHIFT]![ordinal & CHUNK_MASK]!;
  }

  /** The slot holding this id, or -1. */
  private find(messageId: string, hash: number): number {
    const table = this.table;
    const mask = this.mask;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const stored = table[slot * 2]!;
      if (stored === EMPTY) return -1;
      if (stored === hash && this.record(table[slot * 2 + 1]!).messageId === messageId) return slot;
    }
  }

  private place(hash: number, ordinal: number): void {
    const table = this.table;
    const mask = this.mask;
    let slot = hash & mask;
    while (table[slot * 2] !== EMPTY) slot = (slot + 1) & mask;
    table[slot * 2] = hash;
    table[slot * 2 + 1] = ordinal;
  }

  /** Doubles the table; the stored hashes are reused, no id is hashed again. */
  private grow(): void {
    const old = this.table;
    this.table = new Int32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== EMPTY) this.place(old[i]!, old[i + 1]!);
  }

  private hash(id: string): number {
    return idHash(id, this.seed);
  }
}

/** Jenkins one-at-a-time over UTF-16 code units, seeded; never EMPTY. Exported for the collision test. */
export function idHash(id: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < id.length; i++) {
    h = (h + id.charCodeAt(i)) | 0;
    h = (h + (h << 10)) | 0;
    h ^= h >>> 6;
  }
  h = (h + (h << 3)) | 0;
  h ^= h >>> 11;
  h = (h + (h << 15)) | 0;
  return h === EMPTY ? 1 : h;
}
