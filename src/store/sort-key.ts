// Server-assigned sort keys. Replay order is accept order, never the client's messageId order, and
// messages accepted in the same millisecond keep their order: key = max(last + 1, now * 1024).
// 1024 keys per ms per process before the clock runs ahead of wall time; keys stay below 2^53 until
// the year 2255. Across instances, keys from different processes order by wall clock (ties by id).

export const KEYS_PER_MS = 1024;

export class SortKeyClock {
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): number {
    const floor = this.now() * KEYS_PER_MS;
    this.last = floor > this.last ? floor : this.last + 1;
    return this.last;
  }

  /** Never hand out a key at or below one already seen (e.g. the newest stored key after a restart). */
  observe(key: number): void {
    if (key > this.last) this.last = key;
  }
}
