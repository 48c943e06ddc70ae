// A value there now, or a promise of it. The memory store answers at once; making it a promise anyway
// costs the hot path a promise, a closure and a microtask per frame, which at 5,000 msgs/s paced is
// scavenges and tail latency (bench/RESULTS.md, "Allocation per message").
export type MaybePromise<T> = T | Promise<T>;

/** True for a promise (or any thenable): the answer comes later. Stored results never have `then`. */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
