// How fast the store writes a batch's items, measured: the basis of the batcher's load shedding.
// A batch costs a fixed round trip plus a per-item part; only batches big enough for the per-item
// part to dominate raise the estimate, so a quiet period of one-item batches does not make the store
// look slow at the start of a burst. A small batch may still lower it (its per-item cost includes the
// whole round trip, so it can only overstate). A failed batch measures nothing: a write that timed out
// because the store was unreachable says nothing about how fast it writes once it is back, and
// measuring it once shut the batcher for good after an outage (every write refused as "would wait
// about 5000 ms", so no batch ever ran to correct it).

/** Batches smaller than this do not raise the estimate. */
export const MIN_MEASURED_BATCH = 32;
/** Weight of the newest batch in the moving average: a handful of batches to follow a change. */
const ALPHA = 0.3;

export class ThroughputEstimate {
  private msPerItemAverage: number | undefined;

  constructor(private readonly minMeasuredBatch = MIN_MEASURED_BATCH) {}

  /** A finished batch: `size` items in `ms`. */
  record(size: number, ms: number, failed: boolean): void {
    if (size <= 0 || failed) return;
    const perItem = ms / size;
    if (size < this.minMeasuredBatch && (this.msPerItemAverage === undefined || perItem >= this.msPerItemAverage)) return;
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
