// CPU of the metric calls one full chat cycle makes on our server, in a loop: the ws-send runs with
// metrics on and stubbed (bench/RESULTS.md, "Metrics' cost on the send path") differ by less than
// their noise, so this gives the figure they cannot resolve. The calls mirror src/transport/websocket.ts
// and src/chat/{send,confirm}.ts: 2 frames in, 3 frames out (labelled HotCounter.inc), the `new` send
// cell, the SENT-ack and delivery latency observes (with their performance.now()), deliveries marked.
//
//   node --import tsx bench/tools/metrics-cost.ts [cycles (2000000)]

import { createMetrics } from '../../src/metrics/registry.js';

const m = createMetrics({ collectDefault: false });
const sentNew = m.messagesSent.cell('new');
// The server's frameType(): a label from the encoded frame's prefix.
const frameType = (f: string) =>
  f.startsWith('{"type":"message"') ? 'message' : f.startsWith('{"type":"ack","status":"SENT"') ? 'ack_sent' : f.startsWith('{"type":"ack"') ? 'ack_delivered' : 'error';
const framesOut = ['{"type":"ack","status":"SENT","messageId":"x"}', '{"type":"message","messageId":"x"}', '{"type":"ack","status":"DELIVERED","messageIds":["x"]}'];

// Latencies vary with i so the histograms walk different buckets, as they do under load.
const parts: [string, (i: number) => void][] = [
  ['5 frame counters (HotCounter.incOne(label), as the server calls them)', () => {
    m.framesIn.incOne('send');
    for (const f of framesOut) m.framesOut.incOne(frameType(f));
    m.framesIn.incOne('delivered');
  }],
  ['2 histogram observes', (i) => {
    m.sentAckLatency.observe((i & 7) * 1e-4);
    m.deliveryLatency.observe(0.003 + (i & 15) * 1e-3);
  }],
  ['2 performance.now()', () => void (performance.now() + performance.now())],
  ['sent cell + deliveries marked', () => {
    sentNew.value++;
    m.deliveriesMarked.inc(1);
  }],
];
const n = Number(process.argv[2] ?? 2_000_000);
const nsPerCycle = (fn: (i: number) => void): number => {
  // Best of 4: the loop is alone on a core at best; anything else on the machine only adds.
  let best = Infinity;
  for (let r = 0; r < 4; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const d = process.cpuUsage(t0);
    best = Math.min(best, ((d.user + d.system) * 1000) / n);
  }
  return best;
};
let total = 0;
for (const [name, fn] of parts) {
  const ns = nsPerCycle(fn);
  total += ns;
  console.log(`${name.padEnd(42)} ${ns.toFixed(0).padStart(5)} ns/cycle`);
}
console.log(`${'total'.padEnd(42)} ${total.toFixed(0).padStart(5)} ns/cycle`);
