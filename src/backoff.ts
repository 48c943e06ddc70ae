// Exponential backoff: the one copy for every place that waits before trying again (the SDK's
// reconnects and its retries of refused sends, the MongoDB startup loop in store/mongo/connect.ts).
// Neutral on purpose: no imports, no I/O and no Node API, so the server and the SDK's browser bundle
// both take it without either reaching into the other's layer.

/** The ceiling of attempt `attempt` (0-based): initialMs·2^attempt, capped at maxMs. */
export function exponentialCeiling(initialMs: number, maxMs: number, attempt: number): number {
  // 2^30 passes any sane cap; stopping there keeps an endless retry loop away from Infinity (and 0·∞).
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}

/**
 * "Equal jitter": a delay in [ceilingMs/2, ceilingMs). The fixed half means no delay is ever near
 * zero; the random half means a crowd that failed at the same moment (a fleet dropped by one server
 * restart) comes back spread over half the ceiling instead of in lockstep.
 */
export function equalJitter(ceilingMs: number, random: () => number = Math.random): number {
  return ceilingMs / 2 + random() * (ceilingMs / 2);
}

/**
 * A wait of at least floorMs, spread over one more floorMs: [floorMs, 2·floorMs), equal jitter under a
 * ceiling of twice the floor. For waits the server named (retryAfter): what it asked is a minimum,
 * and a crowd refused at the same moment comes back spread over a window as long as the wait itself.
 */
export function jitterAbove(floorMs: number, random: () => number = Math.random): number {
  return equalJitter(2 * floorMs, random);
}

/** Successive delays under equal jitter, with exponentially growing ceilings; reset() starts over. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = exponentialCeiling(this.initialMs, this.maxMs, this.attempt);
    this.attempt++;
    return equalJitter(ceiling, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }
}
