// A pause the server asked for. After a refusal with `retryAfter` (rate_limited, unavailable) the
// refused kind of frame is not written again before that many seconds have passed, and then only
// after jitter: the wait is drawn in [floor, 2·floor) (jitterAbove), so clients refused at the same
// moment (a store outage answers every one of them at once) come back spread over a window as long as
// the wait itself instead of in one burst that would be refused again.
import { jitterAbove } from '../backoff.js';

/** The longest retryAfter taken (s): with jitter every wait stays under an hour (docs/client.md). */
const MAX_RETRY_AFTER_S = 1800;

/**
 * The floor (ms) for a server's retryAfter: one not finite or not positive (1e309 parses as Infinity;
 * setTimeout turns that, or anything past 2^31 ms, into 1 ms) is `fallbackMs`, one too long is capped.
 */
export function retryFloorMs(retryAfter: number | undefined, fallbackMs: number): number {
  return retryAfter !== undefined && retryAfter > 0 && retryAfter < Infinity ? Math.min(retryAfter, MAX_RETRY_AFTER_S) * 1000 : fallbackMs;
}

export class RetryPause {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private until = 0;
  /** The pause's one random draw: see extend(). */
  private fraction = 0;

  constructor(
    /** Called when the pause ends: write what waited. */
    private readonly resume: () => void,
    private readonly random: () => number = Math.random,
  ) {}

  get active(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Pauses for at least floorMs plus jitter; a running pause is only ever lengthened. Refusals of one
   * pipelined batch arrive together: they share the pause's single draw, since the longest of several
   * draws would crowd every client towards 2·floor again.
   */
  extend(floorMs: number): void {
    const now = Date.now();
    if (!this.active) this.fraction = this.random();
    const until = now + jitterAbove(floorMs, () => this.fraction);
    if (this.active && until <= this.until) return;
    this.until = until;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.resume();
    }, until - now);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
