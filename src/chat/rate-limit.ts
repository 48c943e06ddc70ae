// Per-key token buckets (sends and confirmations per user, auth attempts per address or name). Buckets
// live in a bounded LRU: an evicted bucket only means that key starts again with a full burst.
import { LRUCache } from 'lru-cache';

export interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Refills `bucket` to `now` and takes `cost` tokens (all or none): 0 if allowed, else the seconds to wait. */
function takeFrom(bucket: Bucket, now: number, ratePerSec: number, burst: number, cost: number): number {
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
    return this.takeFrom(this.bucketOf(key), cost);
  }

  /**
   * Takes `cost` more tokens after the fact, even below zero: work found to be dearer than what was
   * taken up front. The key waits until the debt is refilled.
   */
  charge(key: string, cost: number): void {
    this.chargeBucket(this.bucketOf(key), cost);
  }

  /** A key's bucket (a full one if it had none), for a caller that keeps it: no lookup per call after. */
  bucketOf(key: string): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { tokens: this.burst, updatedMs: this.now() }));
    return bucket;
  }

  /** `take` on a bucket from bucketOf. */
  takeFrom(bucket: Bucket, cost = 1): number {
    return takeFrom(bucket, this.now(), this.ratePerSec, this.burst, cost);
  }

  /** `charge` on a bucket from bucketOf. */
  chargeBucket(bucket: Bucket, cost: number): void {
    if (cost <= 0) return;
    this.takeFrom(bucket, 0); // refill to now
    bucket.tokens -= cost;
  }

  /** Seconds until a bucket from bucketOf holds `cost` tokens (0: it does now); takes nothing. */
  waitFor(bucket: Bucket, cost: number): number {
    const ms = this.msUntil(bucket, cost);
    return ms === 0 ? 0 : Math.max(1, Math.ceil(ms / 1000));
  }

  /** Milliseconds until a bucket from bucketOf holds `cost` tokens (0: it does now); takes nothing. */
  msUntil(bucket: Bucket, cost: number): number {
    this.takeFrom(bucket, 0); // refill to now
    return bucket.tokens >= cost ? 0 : ((Math.min(cost, this.burst) - bucket.tokens) / this.ratePerSec) * 1000;
  }
}

/** @deprecated the send limiter's former name; use RateLimiter. */
export { RateLimiter as SendRateLimiter };
