// A histogram for per-message paths (the SENT-ack and delivery latencies, the store's per-batch
// figures). prom-client's `Histogram.observe` builds a closure and a label object, hashes the labels
// into a string, and finds the bucket through a property named after its bound (a number printed as a
// string on every call): ~130 ns each, warm (bench/tools/metrics-cost.ts), and ~2,700 instructions
// per observation under callgrind (bench/RESULTS.md, "Where a chat cycle's instructions go").
// This adds to plain numbers, and builds prom-client's export shape only when /metrics is scraped:
// the text is what a prom-client Histogram with these buckets and labels writes (test/unit).
import type { Metric, MetricValueWithName, Registry } from 'prom-client';
import { labelKey, labelsFor } from './label-set.js';

/** What the registry reads from a metric at scrape time (prom-client's typings name `type` an enum; it is this string). */
interface Scraped {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: (MetricValueWithName<string> & { sharedLabels?: Record<string, string> })[];
}

/** One label set's counts: what `observe` touches. */
export class HistogramSeries {
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: Float64Array,
    readonly labels: Record<string, string>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
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
}

export class HotHistogram<Label extends string = string> {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly bounds: Float64Array;
  /** By labelKey, in the order first observed (prom-client's order too). */
  private readonly byLabels = new Map<string, HistogramSeries>();
  /** The series of a histogram without labels. */
  private readonly unlabelled: HistogramSeries | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registers: Registry[],
    private readonly labelNames: readonly string[] = [],
  ) {
    this.bounds = Float64Array.from(buckets).sort();
    if (labelNames.length === 0) this.unlabelled = this.series();
    for (const registry of registers) registry.registerMetric(this as unknown as Metric);
  }

  /** For a histogram without labels. */
  observe(value: number): void {
    this.unlabelled!.observe(value);
  }

  /** The series of one set of label values (in labelNames order): bind it once, observe on it. */
  series(...values: Label[]): HistogramSeries {
    const key = labelKey(values);
    let series = this.byLabels.get(key);
    if (!series) this.byLabels.set(key, (series = new HistogramSeries(this.bounds, labelsFor(this.labelNames, values))));
    return series;
  }

  reset(): void {
    for (const series of this.byLabels.values()) {
      series.counts.fill(0);
      series.sum = series.count = 0;
    }
  }

  /** As prom-client's `get()`: each value's labels include its series' labels. */
  async get(): Promise<Scraped> {
    const scraped = await this.getForPromString();
    for (const value of scraped.values) {
      value.labels = { ...value.labels, ...value.sharedLabels };
      delete value.sharedLabels;
    }
    return scraped;
  }

  /** What prom-client's registry writes at scrape time (the series' labels after `le`, as prom-client orders them). */
  async getForPromString(): Promise<Scraped> {
    const bucket = `${this.name}_bucket`;
    const values: Scraped['values'] = [];
    for (const series of this.byLabels.values()) {
      const sharedLabels = series.labels;
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({ metricName: bucket, labels: { le: bound }, sharedLabels, value: cumulative });
      });
      values.push(
        { metricName: bucket, labels: { le: '+Inf' }, sharedLabels, value: series.count },
        { metricName: `${this.name}_sum`, labels: {}, sharedLabels, value: series.sum },
        { metricName: `${this.name}_count`, labels: {}, sharedLabels, value: series.count },
      );
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
