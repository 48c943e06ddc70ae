// GET and HEAD on the JSON API, per user: a token bucket that charges by weight. A request takes one
// token up front (refused with 429 when there is none), and its answer one more per
// API_READ_BYTES_PER_TOKEN once its size is known, so a client looping over megabyte pages waits in
// proportion to what it makes the server build. Sends and confirmations have their own limits.
import { ChatError } from '../errors.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics/registry.js';
import { RateLimiter } from '../chat/rate-limit.js';

export class ApiReadLimit {
  private readonly limiter: RateLimiter;
  private readonly bytesPerToken: number;

  constructor(
    limits: Config['limits'],
    private readonly metrics: Metrics,
  ) {
    this.limiter = new RateLimiter(limits.apiReadRatePerSec, limits.apiReadBurst, Math.max(1000, Math.min(limits.maxConnections, 1_000_000)));
    this.bytesPerToken = limits.apiReadBytesPerToken;
  }

  /** Throws rate_limited (429, Retry-After) when the user has no token left. */
  take(userId: string): void {
    const wait = this.limiter.take(userId);
    if (wait === 0) return;
    this.metrics.rateLimited.inc({ limit: 'api_read' });
    throw new ChatError('rate_limited', 'Too many API reads; slow down', { retryAfterSec: wait });
  }

  /** The answer's weight, after the fact: one more token per bytesPerToken it holds. */
  charge(userId: string, answerBytes: number): void {
    this.limiter.charge(userId, Math.floor(answerBytes / this.bytesPerToken));
  }
}
