// Connections that keep pushing past their rate limits. A well-behaved client that is answered
// `rate_limited` waits `retryAfter` (the SDK does); one that keeps sending anyway still costs a parse
// per frame, so after RATE_LIMITED_CLOSE_AFTER refusals within WINDOW_MS it is closed with 1008, and
// its user's new connections are refused (429) for RATE_LIMITED_COOLDOWN_SEC: reconnecting at once
// would otherwise cost an upgrade and a store replay each time.
import { LRUCache } from 'lru-cache';

/** The window in which refusals are counted. */
export const FLOOD_WINDOW_MS = 10_000;

export interface FloodGuardOptions {
  readonly closeAfter: number;
  readonly cooldownSec: number;
  /** Users remembered in cooldown at most (an evicted one may reconnect early). */
  readonly maxUsers: number;
  readonly now?: () => number;
}

/** Per-connection refusal count, kept on the connection by the transport. */
export interface RefusalWindow {
  count: number;
  since: number;
}

export class FloodGuard {
  private readonly cooling: LRUCache<string, number>;
  private readonly now: () => number;

  constructor(private readonly options: FloodGuardOptions) {
    this.cooling = new LRUCache({ max: Math.max(1, options.maxUsers) });
    this.now = options.now ?? Date.now;
  }

  /** Counts one `rate_limited` answer; true when the connection must be closed now. */
  refused(window: RefusalWindow, userId: string): boolean {
    const now = this.now();
    if (now - window.since > FLOOD_WINDOW_MS) {
      window.count = 0;
      window.since = now;
    }
    if (++window.count < this.options.closeAfter) return false;
    if (this.options.cooldownSec > 0) this.cooling.set(userId, now + this.options.cooldownSec * 1000);
    return true;
  }

  /** Seconds until `userId` may connect again, or 0. */
  cooldownLeftSec(userId: string): number {
    const until = this.cooling.get(userId);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) {
      this.cooling.delete(userId);
      return 0;
    }
    return Math.ceil(left / 1000);
  }
}
