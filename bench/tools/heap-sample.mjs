// Where a process allocates: a preload (`--import`) that runs V8's sampling heap profiler from start
// to SIGTERM/SIGINT (when benchmarks stop their servers) and writes
// $HEAP_SAMPLE_OUT (default the temp dir)/<pid>.heapprofile. Every allocation is counted, including
// objects the GC has already freed, so the total is what young-generation scavenges (the paced p99's
// pauses) must work through. Sampled, with far less noise than CPU time on a shared machine:
//   BENCH_OURS_NODE_ARGS="--import $PWD/bench/tools/heap-sample.mjs" node --import tsx bench/paced.ts --rates 5000 --subjects ours ...
//   node --import tsx bench/tools/heapprofile-top.ts <file.heapprofile | directory>
// HEAP_SAMPLE_KEEP=promoted leaves out what a scavenge collected: what remains is what scavenges
// copied (promoted to the old generation, dead there or alive) plus the young objects alive at the
// end. HEAP_SAMPLE_KEEP=alive leaves out every collected object: what the process still holds.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const session = new Session();
session.connect();
const keep = process.env.HEAP_SAMPLE_KEEP ?? 'all';
if (!['all', 'promoted', 'alive'].includes(keep)) throw new Error(`HEAP_SAMPLE_KEEP must be all, promoted or alive, got ${keep}`);
session.post('HeapProfiler.startSampling', {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: keep !== 'alive',
  includeObjectsCollectedByMinorGC: keep === 'all',
});
let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (!error) writeFileSync(join(process.env.HEAP_SAMPLE_OUT ?? tmpdir(), `${process.pid}.heapprofile`), JSON.stringify(result.profile));
  });
};
// First, so that the profile is written before the server's own handler starts shutting down.
process.prependListener('SIGTERM', stop);
process.prependListener('SIGINT', stop);
