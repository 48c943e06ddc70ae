// Serializing async steps per key: each runs after the previous one on its keys settled (fulfilled or
// rejected).

/**
 * One queue per key; a key is forgotten once its queue is empty, so idle keys cost nothing. A step may
 * hold several keys: it joins all their queues at once, so steps start in the order they came on every
 * key they share, and none ever holds one key while waiting for another (no deadlock, whatever order
 * the keys are named in).
 */
export class KeyedLock {
  /** Each key's last step, settled (never rejects). */
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, step: () => Promise<T>): Promise<T> {
    return this.runAll([key], step);
  }

  runAll<T>(keys: Iterable<string>, step: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    const before = unique.map((key) => this.tails.get(key)).filter((tail) => tail !== undefined);
    const result = (before.length === 0 ? Promise.resolve() : before.length === 1 ? before[0]! : Promise.all(before)).then(() => step());
    const tail = result.catch(() => {});
    for (const key of unique) this.tails.set(key, tail);
    void tail.then(() => {
      for (const key of unique) if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
