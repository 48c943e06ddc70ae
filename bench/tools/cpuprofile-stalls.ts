// The server's longest busy stretches in a V8 .cpuprofile: runs of consecutive samples that were not
// "(idle)", i.e. time in which the event loop took nothing new. A frame that arrives during one waits
// it out, so these are what a tail latency (p99 send→SENT) is made of, where the CPU total is not.
//
//   node --import tsx bench/tools/cpuprofile-stalls.ts <file.cpuprofile | directory> [--top 10] [--min-ms 2]
//
// Each stretch is shown with what it was made of: garbage collection, and its top files by self time.
// The sampling interval (1 ms by default for --cpu-prof) is the resolution.

import { readFileSync } from 'node:fs';
import { profileFile, shortUrl, type CpuProfile, type ProfileNode } from './cpuprofile-top.js';

export interface Stretch {
  readonly startMs: number;
  readonly ms: number;
  readonly gcMs: number;
  /** Self time by file (or native/GC bucket) within the stretch, largest first. */
  readonly parts: readonly (readonly [string, number])[];
}

export function busyStretches(file: string): { stretches: Stretch[]; wallMs: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]));
  const stretches: Stretch[] = [];
  let at = 0;
  let current: { startMs: number; us: number; gcUs: number; parts: Map<string, number> } | undefined;
  const close = () => {
    if (!current) return;
    const parts = [...current.parts.entries()].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, us / 1000] as const);
    stretches.push({ startMs: current.startMs, ms: current.us / 1000, gcMs: current.gcUs / 1000, parts });
    current = undefined;
  };
  for (let i = 0; i < p.samples.length; i++) {
    // A sample's time delta is the time since the previous sample: it belongs to this sample's state.
    const dt = p.timeDeltas[i] ?? 0;
    at += dt;
    const frame = byId.get(p.samples[i]!)!.callFrame;
    if (frame.functionName === '(idle)') {
      close();
      continue;
    }
    current ??= { startMs: (at - dt) / 1000, us: 0, gcUs: 0, parts: new Map() };
    current.us += dt;
    if (frame.functionName === '(garbage collector)') current.gcUs += dt;
    const key = frame.url === '' ? `(${frame.functionName || 'native'})` : shortUrl(frame.url);
    current.parts.set(key, (current.parts.get(key) ?? 0) + dt);
  }
  close();
  return { stretches, wallMs: (p.endTime - p.startTime) / 1000 };
}

export function renderStalls(file: string, top: number, minMs: number): string {
  const { stretches, wallMs } = busyStretches(file);
  const long = stretches.filter((s) => s.ms >= minMs);
  const bands = [1, 2, 5, 10, 20, 50].map((ms) => {
    const inBand = stretches.filter((s) => s.ms >= ms);
    return `≥ ${ms} ms: ${inBand.length} (${(inBand.reduce((sum, s) => sum + s.ms, 0) / 1000).toFixed(2)} s)`;
  });
  const rows = [...long]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top)
    .map((s) => `| ${(s.startMs / 1000).toFixed(2)} | ${s.ms.toFixed(1)} | ${s.gcMs.toFixed(1)} | ${s.parts.slice(0, 4).map(([k, ms]) => `\`${k}\` ${ms.toFixed(1)}`).join('; ')} |`);
  return [
    file,
    `wall ${(wallMs / 1000).toFixed(1)} s; busy stretches ${stretches.length}, ${(wallMs / 1000 / Math.max(1, stretches.length)).toFixed(3)} s apart on average`,
    `by length: ${bands.join(', ')}`,
    '',
    `| at s | ms | GC ms | made of (self ms) |`,
    '| ---: | ---: | ---: | --- |',
    ...rows,
  ].join('\n');
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('cpuprofile-stalls.ts') || entry.endsWith('cpuprofile-stalls.js')) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const top = Number(opt('top') ?? 10);
  const minMs = Number(opt('min-ms') ?? 2);
  const target = args[0];
  if (!target) {
    console.error('usage: cpuprofile-stalls.ts <file.cpuprofile | directory> [--top 10] [--min-ms 2]');
    process.exit(2);
  }
  console.log(renderStalls(profileFile(target), top, minMs));
}
