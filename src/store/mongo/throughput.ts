// How fast the store writes a batch's items, measured: the basis of the batcher's load shedding.
// A batch costs a fixed round trip plus a per-item part; only batches big enough for the per-item
// part to dominate are measured, so a quiet period of one-item batches does not make the store look
// slow at the start of a burst.

/** Batches smaller than this are not measured (unless they failed: a failure is always news). */
export const MIN_MEASURED_BATCH = 32;
/** Weight of the newest batch in the moving average: a handful of batches to follow a change. */
const ALPHA = 0.3;

export class ThroughputEstimate {
  private msPerItemAverage: number | undefined;

  constructor(private readonly minMeasuredBatch = MIN_MEASURED_BATCH) {}

  /** A finished batch: `size` items in `ms`. */
  record(size: number, ms: number, failed: boolean): void {
    if (size <= 0 || (!failed && size < this.minMeasuredBatch)) return;
    const perItem = ms / size;
    this.msPerItemAverage = this.msPerItemAverage === undefined ? perItem : this.msPerItemAverage + ALPHA * (perItem - this.msPerItemAverage);
  }

  /**
   * Milliseconds per item, or undefined before anything was measured. A batch still in flight that
   * has already taken longer than the average predicts raises it: the store is slower right now.
   */
  msPerItem(inFlight?: { readonly size: number; readonly elapsedMs: number }): number | undefined {
    const lowerBound = inFlight && inFlight.size >= this.minMeasuredBatch ? inFlight.elapsedMs / inFlight.size : undefined;
    if (this.msPerItemAverage === undefined) return lowerBound;
    return lowerBound === undefined ? this.msPerItemAverage : Math.max(this.msPerItemAverage, lowerBound);
  }
}
