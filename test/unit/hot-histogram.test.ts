// HotHistogram (src/metrics/hot-histogram.ts) stands in for prom-client's Histogram on per-message
// paths: a scrape must read exactly what prom-client would have written for the same observations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { HotHistogram } from '../../src/metrics/hot-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.005, 0.1, 1, 2.5];
// Below the first bound, on bounds exactly (le: a value equal to a bound is in its bucket), between, above the last.
const VALUES = [0, 0.0001, 0.0005, 0.00051, 0.001, 0.003, 0.1, 0.7, 1, 2.5, 2.6, 1e9];

async function scrape(make: (registry: Registry) => { observe(value: number): void }, values: readonly number[]): Promise<string> {
  const registry = new Registry();
  const histogram = make(registry);
  for (const value of values) histogram.observe(value);
  return registry.metrics();
}

describe('HotHistogram', () => {
  it('writes what a prom-client Histogram with the same buckets writes', async () => {
    const theirs = await scrape((registry) => new Histogram({ name: 'h_seconds', help: 'help text', buckets: BUCKETS, registers: [registry] }), VALUES);
    const ours = await scrape((registry) => new HotHistogram('h_seconds', 'help text', BUCKETS, [registry]), VALUES);
    assert.equal(ours, theirs);
    assert.match(ours, /^h_seconds_bucket\{le="0.0005"\} 3$/m);
    assert.match(ours, /^h_seconds_count 12$/m);
  });

  it('with labels: writes what prom-client writes, and get() gives the same labels and values', async () => {
    const observe = (persist: (v: number) => void, confirm: (v: number) => void) => VALUES.forEach((v, i) => (i % 3 ? persist : confirm)(v));
    const registry = new Registry();
    const theirs = new Histogram({ name: 'b_seconds', help: 'per batch', labelNames: ['op'], buckets: BUCKETS, registers: [registry] });
    observe((v) => theirs.observe({ op: 'persist' }, v), (v) => theirs.observe({ op: 'confirm' }, v));
    const hotRegistry = new Registry();
    const ours = new HotHistogram<'persist' | 'confirm'>('b_seconds', 'per batch', BUCKETS, [hotRegistry], ['op']);
    observe((v) => ours.series('persist').observe(v), (v) => ours.series('confirm').observe(v));
    assert.equal(await hotRegistry.metrics(), await registry.metrics());
    assert.match(await hotRegistry.metrics(), /^b_seconds_count\{op="persist"\} 8$/m);
    assert.deepEqual((await ours.get()).values, (await theirs.get()).values.map((value) => {
      const { exemplar: _, ...rest } = value as typeof value & { exemplar?: unknown };
      return rest;
    }));
  });

  it('ignores what is not a finite number, and resets with its registry', async () => {
    const registry = new Registry();
    const histogram = new HotHistogram('h_seconds', 'help text', BUCKETS, [registry]);
    histogram.observe(Number.NaN);
    histogram.observe(Number.POSITIVE_INFINITY);
    histogram.observe(0.002);
    assert.match(await registry.metrics(), /^h_seconds_count 1$/m);
    registry.resetMetrics();
    assert.match(await registry.metrics(), /^h_seconds_count 0$/m);
    assert.match(await registry.metrics(), /^h_seconds_sum 0$/m);
  });
});
