// What one persist costs the memory store in-process, with its garbage collection, as the store grows:
// N messages from 500 senders into 500 direct conversations, each body a fresh string of 50–500 bytes
// made by JSON.parse (as a send frame's is). A same-machine before/after for changes to how the store
// keeps messages (the off-heap bodies of src/store/memory/body-arena.ts, the rows of message-table.ts):
//
//   node --import tsx bench/tools/memory-persist.ts [--n 1000000] [--ref REF] [--rounds 3]
//
// Each build runs in a child process of its own (a fresh heap), rounds alternating between builds;
// prints the wall time per persist and the child's CPU time (GC threads included) per persist, then
// what the store keeps: V8 heap bytes per message after a full GC, and how long a full GC of that
// heap takes (the mean of three; what a major GC in the server must mark grows with it).
// --ref compiles that commit as `paced.ts --compare` does; this tree is compiled too.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { prepareOurServer } from '../lib/servers.js';

const { values: args } = parseArgs({
  options: { n: { type: 'string', default: '1000000' }, ref: { type: 'string' }, rounds: { type: 'string', default: '3' }, child: { type: 'string' } },
});
const N = Number(args.n);

if (args.child !== undefined) {
  // In the child: args.child is the compiled dist/ directory to measure.
  const { MemoryStore } = (await import(pathToFileURL(join(args.child, 'store', 'memory', 'memory-store.js')).href)) as typeof import('../../src/store/memory/memory-store.js');
  const bodies = Array.from({ length: 64 }, (_, i) => 'b'.repeat(50 + i * 7));
  const store = new MemoryStore();
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const body = (JSON.parse(`{"body":"${bodies[i & 63]}${i}"}`) as { body: string }).body;
    const result = await store.persist({ messageId: `bench-${i}-0123456789`, from: `u${i % 500}`, to: `v${i % 500}`, fromDevice: 'default', body, ts: 1.8e12 + i });
    if (result.kind !== 'created') throw new Error(`persist ${i}: ${result.kind}`);
  }
  const wallNs = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpuBefore);
  gc();
  const heapBytes = (process.memoryUsage().heapUsed - heapBefore) / N;
  const gcStart = process.hrtime.bigint();
  for (let i = 0; i < 3; i++) gc();
  const gcMs = Number(process.hrtime.bigint() - gcStart) / 3e6;
  if ((await store.counts()).messages !== N) throw new Error('the store lost messages'); // and keeps it alive to here
  process.stdout.write(JSON.stringify({ wallNs: wallNs / N, cpuNs: ((cpu.user + cpu.system) * 1000) / N, heapBytes, gcMs }));
} else {
  const here = fileURLToPath(import.meta.url);
  const builds = [{ label: 'ours', dir: dirname(prepareOurServer().entry) }];
  if (args.ref) builds.push({ label: `ours@${args.ref}`, dir: dirname(prepareOurServer({ ref: args.ref }).entry) });
  const rows = new Map<string, string[]>(builds.map((b) => [b.label, []]));
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const build of builds) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', here, '--child', build.dir, '--n', String(N)], { encoding: 'utf8' });
      const { wallNs, cpuNs, heapBytes, gcMs } = JSON.parse(out) as { wallNs: number; cpuNs: number; heapBytes: number; gcMs: number };
      rows.get(build.label)!.push(`${(wallNs / 1000).toFixed(2)} / ${(cpuNs / 1000).toFixed(2)} µs, ${heapBytes.toFixed(0)} B, ${gcMs.toFixed(0)} ms`);
    }
  }
  console.log(`| build | per round: µs per persist, wall / CPU (GC included); heap kept per message; one full GC (N=${N}) |\n| --- | --- |`);
  for (const [label, cells] of rows) console.log(`| ${label} | ${cells.join(', ')} |`);
}
