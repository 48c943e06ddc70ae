// Per-key token buckets (sends and confirmations per user, auth attempts per address or name). Buckets
// live in a bounded LRU: an evicted bucket only means that key starts again with a full burst.
import { LRUCache } from 'lru-cache';

export interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * Refills `bucket` to `now` and takes `cost` tokens (all or none): 0 if allowed, else the seconds to
 * wait until they are there. One bucket alone (a connection's) or one of RateLimiter's.
 */
export function takeFrom(bucket: Bucket, now: number, ratePerSec: number, burst: number, cost = 1): number {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * ratePerSec);
  bucket.updatedMs = now;
  if (bucket.tokens >= cost) {
    bucket.tokens -= cost;
    return 0;
  }
  return Math.max(1, Math.ceil((Math.min(cost, burst) - bucket.tokens) / ratePerSec));
}

export class RateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new LRUCache({ max: maxKeys });
  }

  /**
   * Takes `cost` tokens (all or none); returns 0 if allowed, else the seconds to wait until they are
   * there. A cost above the burst can never be paid: the caller must split it (it is told to wait as
   * long as a full bucket takes).
   */
  take(key: string, cost = 1): number {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { tokens: this.burst, updatedMs: now }));
    return takeFrom(bucket, now, this.ratePerSec, this.burst, cost);
  }

  /**
   * Takes `cost` more tokens after the fact, even below zero: work found to be dearer than what was
   * taken up front. The key waits until the debt is refilled.
   */
  charge(key: string, cost: number): void {
    if (cost <= 0) return;
    this.take(key, 0); // refill to now
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens -= cost;
  }
}

/** @deprecated the send limiter's former name; use RateLimiter. */
export { RateLimiter as SendRateLimiter };
