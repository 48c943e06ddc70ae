// An unlabelled histogram for per-message paths (the SENT-ack and delivery latencies). prom-client's
// `Histogram.observe` builds a closure and a label object, hashes the labels into a string and finds
// the bucket by a property named after its bound, on every call (~130 ns each here, warm:
// bench/tools/metrics-cost.ts); this adds to plain numbers and builds prom-client's export shape only
// when /metrics is scraped. The output is what a prom-client Histogram with these buckets writes.
import type { Metric, MetricValueWithName, Registry } from 'prom-client';

/** What the registry reads from a metric at scrape time (prom-client's typings name `type` an enum; it is this string). */
interface Scraped {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: MetricValueWithName<string>[];
}

export class HotHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly bounds: Float64Array;
  /** Per bucket, not cumulative; the last one is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registers: Registry[],
  ) {
    this.bounds = Float64Array.from(buckets).sort();
    this.counts = new Float64Array(buckets.length + 1);
    for (const registry of registers) registry.registerMetric(this as unknown as Metric);
  }

  /** A value in the bucket of the first bound it does not exceed (prom-client's `le`). Not a finite number: ignored. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = this.count = 0;
  }

  /** prom-client's registry calls this at scrape time. */
  async get(): Promise<Scraped> {
    const bucket = `${this.name}_bucket`;
    const values: MetricValueWithName<string>[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i]!;
      values.push({ metricName: bucket, labels: { le: bound }, value: cumulative });
    });
    values.push(
      { metricName: bucket, labels: { le: '+Inf' }, value: this.count },
      { metricName: `${this.name}_sum`, labels: {}, value: this.sum },
      { metricName: `${this.name}_count`, labels: {}, value: this.count },
    );
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
