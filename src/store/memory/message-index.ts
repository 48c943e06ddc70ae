// The memory store's index of every message by its id: Maps of up to 2^23 entries each, a new one
// begun when the newest is full, looked up newest first.
//
// Why not one Map: V8 caps a Map at 2^24 entries, and from the 16,777,217th message on (under an hour
// at 5,000 msgs/s) every persist threw "RangeError: Map maximum size exceeded". Here the bound is
// memory.
//
// Why Maps and not a hash table of our own: an open-addressing table in an Int32Array (tried: the
// record found by a seeded hash in JavaScript) cost the server's main thread 10-20 k more instructions
// per chat cycle than the Map under callgrind (bench/RESULTS.md, "The memory store's message index").
// Below 2^23 messages this is one Map, as before; past that, a miss (every new id) looks in each.
// Ids are never removed: the store frees no message.

/** Entries per Map: half of V8's cap. */
const GENERATION_SIZE = 1 << 23;

export class MessageIndex<T extends { readonly messageId: string }> {
  private readonly generations: Map<string, T>[] = [new Map()];
  private count = 0;

  /** `generationSize` below the default is for tests. */
  constructor(private readonly generationSize = GENERATION_SIZE) {}

  get size(): number {
    return this.count;
  }

  get(messageId: string): T | undefined {
    const generations = this.generations;
    for (let i = generations.length - 1; i >= 0; i--) {
      const record = generations[i]!.get(messageId);
      if (record !== undefined) return record;
    }
    return undefined;
  }

  /** Adds a record whose id `get` did not find. */
  add(record: T): void {
    let newest = this.generations[this.generations.length - 1]!;
    if (newest.size >= this.generationSize) this.generations.push((newest = new Map()));
    newest.set(record.messageId, record);
    this.count++;
  }

  /** Puts a record in place of the one with its id (it keeps that one's position in `values`). */
  replace(record: T): void {
    for (const generation of this.generations) {
      if (generation.has(record.messageId)) {
        generation.set(record.messageId, record);
        return;
      }
    }
    throw new Error(`MessageIndex.replace: ${record.messageId} is not in the index`);
  }

  /** Every record, in the order their ids were added. */
  *values(): IterableIterator<T> {
    for (const generation of this.generations) yield* generation.values();
  }
}
