// Reading our server's Prometheus metrics from a benchmark: open connections, V8 heap, and the
// server's own counters, to cross-check what the load generator saw.

import { BENCH_METRICS_KEY } from './servers.js';

/** Unlabelled samples by name, labelled ones as `name{labels}`. */
export type MetricSamples = Map<string, number>;

export async function scrapeMetrics(port: number, key = BENCH_METRICS_KEY): Promise<MetricSamples> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { 'x-metrics-key': key } });
  if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const samples: MetricSamples = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    const value = Number(line.slice(at + 1));
    if (Number.isFinite(value)) samples.set(line.slice(0, at), value);
  }
  return samples;
}

/** Polls until `test` holds for the scraped metrics, or `timeoutMs` passes; returns the last scrape. */
export async function waitForMetrics(port: number, test: (m: MetricSamples) => boolean, timeoutMs: number): Promise<{ ok: boolean; metrics: MetricSamples }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const metrics = await scrapeMetrics(port);
    if (test(metrics)) return { ok: true, metrics };
    if (performance.now() > deadline) return { ok: false, metrics };
    await new Promise((r) => setTimeout(r, 100));
  }
}
