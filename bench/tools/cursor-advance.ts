// What one confirmation costs a delivery cursor (src/store/cursor.ts `advance`, one seq at a time as
// every store and the per-connection session call it) for three kinds of client: one that confirms in
// order, one that confirms every other message (its cursor sits at MAX_GAPS runs above the watermark,
// the worst case the bound allows), and one that confirms in random order within a window of 256.
// --ref loads the same file from a git ref and times it in the same run, interleaved.
//
//   node --import tsx bench/tools/cursor-advance.ts [--ref <git-ref>] [--confirmations 200000] [--rounds 5]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Cursor } from '../../src/store/store.js';
import { Args } from '../lib/cli.js';
import { median } from '../lib/stats.js';

type CursorModule = typeof import('../../src/store/cursor.js');

const args = new Args(process.argv.slice(2));
const N = args.num('confirmations', 200_000);
const ROUNDS = args.num('rounds', 5);
const ref = args.str('ref');

/** Seqs in the order each kind of client confirms them. */
const SHAPES: Record<string, (n: number) => number[]> = {
  'in order': (n) => Array.from({ length: n }, (_, i) => i + 1),
  'every other': (n) => Array.from({ length: n }, (_, i) => 2 * (i + 1)),
  'shuffled in 256': (n) => {
    const seqs = Array.from({ length: n }, (_, i) => i + 1);
    let state = 42;
    for (let start = 0; start < n; start += 256) {
      for (let i = Math.min(n, start + 256) - 1; i > start; i--) {
        state = (state * 1_103_515_245 + 12_345) >>> 0;
        const j = start + (state % (i - start + 1));
        [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
      }
    }
    return seqs;
  },
};

/** ns per confirmation: the seqs through `advance` one at a time, as the stores and the session do. */
function time(module: CursorModule, seqs: readonly number[]): number {
  let cursor: Cursor = module.EMPTY_CURSOR;
  const started = process.hrtime.bigint();
  for (const seq of seqs) cursor = module.advance(cursor, [seq]).cursor;
  const ns = Number(process.hrtime.bigint() - started) / seqs.length;
  // `runs` since 2026-12-07, `above` in a ref from before.
  const rest = cursor as { runs?: readonly number[]; above?: readonly number[] };
  if (cursor.upTo === 0 && (rest.runs ?? rest.above ?? []).length === 0) throw new Error('nothing confirmed');
  return ns;
}

async function loadRef(gitRef: string): Promise<CursorModule> {
  const dir = mkdtempSync(join(tmpdir(), 'cursor-ref-'));
  try {
    const file = join(dir, 'cursor.ts');
    writeFileSync(file, execFileSync('git', ['show', `${gitRef}:src/store/cursor.ts`]));
    return (await import(pathToFileURL(file).href)) as CursorModule;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const subjects: [string, CursorModule][] = [['this tree', await import('../../src/store/cursor.js')]];
if (ref) subjects.push([ref, await loadRef(ref)]);

console.log(`| client | ${subjects.map(([name]) => `${name}: ns per confirmation (median of ${ROUNDS})`).join(' | ')} |`);
console.log(`| --- | ${subjects.map(() => '---:').join(' | ')} |`);
for (const [shape, make] of Object.entries(SHAPES)) {
  const seqs = make(N);
  const runs = subjects.map((): number[] => []);
  for (let round = 0; round < ROUNDS + 1; round++) {
    subjects.forEach(([, module], i) => {
      const ns = time(module, seqs);
      if (round > 0) runs[i]!.push(ns); // round 0 warms the JIT up
    });
  }
  console.log(`| ${shape} | ${runs.map((values) => median(values).toFixed(0)).join(' | ')} |`);
}
