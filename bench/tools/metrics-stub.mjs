// Bench only: our server with prom-client's recording turned into no-ops, to measure what metrics cost
// on the send path. METRICS_MODE=off only removes the /metrics route (counting goes on), so it cannot
// show that cost. Preload into ours (the path must be absolute):
//   BENCH_OURS_ENV="NODE_OPTIONS=--import=$PWD/bench/tools/metrics-stub.mjs" node --import tsx bench/ws-send.ts --only ours
// Stubbed: Counter/Gauge inc, dec, set; Histogram/Summary observe, startTimer; the default collectors
// (event-loop lag, GC, process stats). Left: HotCounter's `cell.value++` and its label lookup per frame
// (src/metrics/hot-counter.ts, the server's own code). /metrics then reads zeros: use with ws-send, not
// with http-send or connections, which check /metrics.
import { createRequire } from 'node:module';

// The same prom-client instance the server imports: resolved from the repository's node_modules.
const prom = createRequire(import.meta.url)('prom-client');
const noop = () => {};
for (const [cls, methods] of [
  [prom.Counter, ['inc']],
  [prom.Gauge, ['inc', 'dec', 'set']],
  [prom.Histogram, ['observe']],
  [prom.Summary, ['observe']],
]) {
  for (const m of methods) cls.prototype[m] = noop;
}
prom.Histogram.prototype.startTimer = () => noop;
prom.Summary.prototype.startTimer = () => noop;
// Named ESM imports of a CommonJS module read its exports when first imported: after this assignment.
prom.collectDefaultMetrics = noop;
