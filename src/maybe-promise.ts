// A value there now, or a promise of it. The memory store answers at once; making it a promise anyway
// costs the hot path a promise, a closure and a microtask per frame, which at 5,000 msgs/s paced is
// scavenges and tail latency (bench/RESULTS.md, "Allocation per message").
export type MaybePromise<T> = T | Promise<T>;

/**
 * True for a promise: the answer comes later. Every promise here is native (async functions, the
 * MongoDB driver). `instanceof`, not a look for `then`: this one function sees the results of every
 * store call, so a `then` lookup had seen too many object shapes and went through V8's slow
 * (megamorphic) path on every frame (bench/RESULTS.md, "Where a chat cycle's instructions go").
 */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}
