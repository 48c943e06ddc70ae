// Per-user token buckets for sends (both doors). Buckets live in a bounded LRU: an evicted bucket
// only means that user starts again with a full burst.
import { LRUCache } from 'lru-cache';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export class SendRateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    maxUsers: number,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new LRUCache({ max: maxUsers });
  }

  /** Takes one token; returns 0 if allowed, else the seconds to wait before a token is available. */
  take(userId: string): number {
    const now = this.now();
    let bucket = this.buckets.get(userId);
    if (!bucket) {
      bucket = { tokens: this.burst, updatedMs: now };
      this.buckets.set(userId, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.ratePerSec);
      bucket.updatedMs = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSec));
  }
}
