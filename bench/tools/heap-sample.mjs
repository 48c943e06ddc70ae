// Where a process allocates: a preload (`--import`) that runs V8's sampling heap profiler from start
// to SIGTERM/SIGINT (when benchmarks stop their servers) and writes
// $HEAP_SAMPLE_OUT (default the temp dir)/<pid>.heapprofile. Every allocation is counted, including
// objects the GC has already freed, so the total is what young-generation scavenges (the paced p99's
// pauses) must work through. Sampled, with far less noise than CPU time on a shared machine:
//   BENCH_OURS_NODE_ARGS="--import $PWD/bench/tools/heap-sample.mjs" node --import tsx bench/paced.ts --rates 5000 --subjects ours ...
//   node --import tsx bench/tools/heapprofile-top.ts <file.heapprofile | directory>
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const session = new Session();
session.connect();
session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
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
