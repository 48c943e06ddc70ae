// Reads one value of a prom-client counter or gauge by its labels (0 when that series does not exist yet).
import type { Counter, Gauge } from 'prom-client';

export async function metricValue(metric: Counter<string> | Gauge<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  const match = values.find((value) => wanted.every(([key, expected]) => String(value.labels[key]) === expected));
  return match?.value ?? 0;
}
