// The memory store's index of every message by its id, to its row in the message table
// (message-table.ts), and of the names rows refer to (conversation, user and device ids), to their
// numbers: 64 shards, each id's picked from its last two characters, each shard Maps of up to 2^23
// entries, a new one begun when the newest is full, looked up newest first.
//
// Why shards: a Map grows by doubling, and each doubling rehashes every entry at once, stopping the
// whole process: 10 ms at 262,144 messages, 22 ms at 524,288, twice that at each doubling after
// (bench/RESULTS.md, "A Map's doubling in the paced tail"). In 64 shards each doubles at 1/64 the size.
// A client whose ids all pick one shard (ids chosen to) only gets the one Map there was before.
//
// Why generations: V8 caps a Map at 2^24 entries, and from the 16,777,217th message on (under an hour
// at 5,000 msgs/s) every persist threw "RangeError: Map maximum size exceeded". Here the bound is
// memory.
//
// Why Maps and not a hash table of our own: an open-addressing table in an Int32Array (tried: the
// record found by a seeded hash in JavaScript) cost the server's main thread 10-20 k more instructions
// per chat cycle than the Map under callgrind (bench/RESULTS.md, "The memory store's message index").
// Ids are never removed: the store frees no message.

/** Entries per Map: half of V8's cap. */
const GENERATION_SIZE = 1 << 23;
const SHARDS = 64;

export class MessageIndex {
  /** Per shard, its Maps, the newest last: id → row. */
  private readonly shards: Map<string, number>[][];
  private readonly shardMask: number;
  private count = 0;

  /** `generationSize` below the default, and fewer shards (a power of two), are for tests. */
  constructor(
    private readonly generationSize = GENERATION_SIZE,
    shards = SHARDS,
  ) {
    this.shards = Array.from({ length: shards }, () => [new Map<string, number>()]);
    this.shardMask = shards - 1;
  }

  get size(): number {
    return this.count;
  }

  get(messageId: string): number | undefined {
    const generations = this.shardOf(messageId);
    for (let i = generations.length - 1; i >= 0; i--) {
      const row = generations[i]!.get(messageId);
      if (row !== undefined) return row;
    }
    return undefined;
  }

  /** Adds an id that `get` did not find. */
  add(messageId: string, row: number): void {
    const generations = this.shardOf(messageId);
    let newest = generations[generations.length - 1]!;
    if (newest.size >= this.generationSize) generations.push((newest = new Map()));
    newest.set(messageId, row);
    this.count++;
  }

  /** Ids end in what varies between them (a ULID's or UUID's random part, a counter's last digits). */
  private shardOf(messageId: string): Map<string, number>[] {
    const last = messageId.length - 1;
    return this.shards[(messageId.charCodeAt(last) + 31 * messageId.charCodeAt(last > 0 ? last - 1 : 0)) & this.shardMask]!;
  }
}
