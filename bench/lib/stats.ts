// Latency recording for the load generators.
//
// Why a home-made histogram instead of hdr-histogram-js: that package is only a
// transitive dependency of autocannon (we may not edit package.json), and we
// need something whose state is a plain typed array so worker threads can post
// it to the main thread (structured clone) and the main thread can merge it.
//
// Layout is HDR-like ("log-linear"): values are integer microseconds; values
// below 2^SUB_BITS get one bucket each (exact), and every further power-of-two
// range is split into 2^(SUB_BITS-1) equal buckets. With SUB_BITS = 9 the
// relative error is < 0.4 %, far below run-to-run noise, in ~16k buckets (64 KiB).

const SUB_BITS = 9;
const SUB_COUNT = 1 << SUB_BITS; // 512 exact buckets: 0..511 µs
const HALF = SUB_COUNT >> 1; // buckets per octave above that
const MAX_US = 2 ** 36; // ~19 h: anything larger is clamped (it is a bug anyway)
const OCTAVES = 36 - SUB_BITS + 1;
const BUCKETS = SUB_COUNT + OCTAVES * HALF;

function bucketOf(us: number): number {
  if (us < SUB_COUNT) return us;
  // Octave index: how many bits above SUB_BITS the value has.
  const shift = 31 - Math.clz32(Math.floor(us / SUB_COUNT)); // 0 for 512..1023
  const sub = Math.floor(us / 2 ** (shift + 1)) - HALF; // 0..HALF-1 within the octave
  return SUB_COUNT + shift * HALF + sub;
}

/** Midpoint value (µs) a bucket stands for; used when reporting percentiles. */
function valueOf(bucket: number): number {
  if (bucket < SUB_COUNT) return bucket;
  const rel = bucket - SUB_COUNT;
  const shift = Math.floor(rel / HALF);
  const sub = rel % HALF;
  const width = 2 ** (shift + 1);
  return (sub + HALF) * width + width / 2;
}

/** Plain-data form of a histogram: what crosses worker/thread boundaries. */
export interface HistogramData {
  counts: Uint32Array;
  count: number;
  sumUs: number;
  minUs: number;
  maxUs: number;
}

/** Percentile summary in milliseconds, the unit every report uses. */
export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class Histogram {
  readonly counts: Uint32Array;
  count = 0;
  sumUs = 0;
  minUs = Number.POSITIVE_INFINITY;
  maxUs = 0;

  constructor(data?: HistogramData) {
    this.counts = new Uint32Array(BUCKETS);
    if (data) this.merge(data);
  }

  /** Record one latency given in milliseconds (e.g. a performance.now() difference). */
  recordMs(ms: number): void {
    this.recordUs(ms * 1000);
  }

  recordUs(us: number): void {
    // Negative values only appear with clock bugs; clamp instead of corrupting buckets.
    const v = us <= 0 ? 0 : us >= MAX_US ? MAX_US - 1 : Math.round(us);
    this.counts[bucketOf(v)]! += 1;
    this.count += 1;
    this.sumUs += v;
    if (v < this.minUs) this.minUs = v;
    if (v > this.maxUs) this.maxUs = v;
  }

  /** Add another histogram (or its posted data) into this one. */
  merge(other: HistogramData): this {
    const src = other.counts;
    for (let i = 0; i < BUCKETS; i++) {
      const c = src[i]!;
      if (c !== 0) this.counts[i]! += c;
    }
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.minUs < this.minUs) this.minUs = other.minUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
    return this;
  }

  /** Value (µs) at percentile p in [0, 100]; max is exact, others are bucket midpoints. */
  percentileUs(p: number): number {
    if (this.count === 0) return 0;
    if (p >= 100) return this.maxUs;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.maxUs);
    }
    return this.maxUs;
  }

  summary(): LatencySummary {
    const ms = (us: number): number => Math.round(us) / 1000;
    return {
      count: this.count,
      meanMs: this.count === 0 ? 0 : ms(this.sumUs / this.count),
      p50Ms: ms(this.percentileUs(50)),
      p90Ms: ms(this.percentileUs(90)),
      p99Ms: ms(this.percentileUs(99)),
      maxMs: ms(this.maxUs),
    };
  }

  /** Snapshot suitable for postMessage (the typed array is copied, not shared). */
  toData(): HistogramData {
    return {
      counts: this.counts.slice(),
      count: this.count,
      sumUs: this.sumUs,
      minUs: this.minUs,
      maxUs: this.maxUs,
    };
  }
}

/** Merge any number of per-worker histograms into one. */
export function mergeHistograms(parts: readonly HistogramData[]): Histogram {
  const h = new Histogram();
  for (const p of parts) h.merge(p);
  return h;
}

/** The median of the finite values (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}
