// The benchmark set in one run: ws-send, http-send, connections, replay (mem and Mongo), group-fanout and
// history (conversations, issue 13) and, when it exists, store-write. Prints one Markdown report and writes it to bench/results/latest.md.
//
//   node --import tsx bench/run.ts                 default sizes, under five minutes on 2 cores
//   node --import tsx bench/run.ts --smoke         every benchmark at a tiny size (CI): fails only on
//                                                  errors, lost or duplicated messages, never on timing
//   node --import tsx bench/run.ts --compare HEAD  the working tree and HEAD, same run, ratios between them
//   … --only ws-send,replay   … --profile [dir]   … and any benchmark's own flags (see each file)
//   node --import tsx bench/run.ts --peers centrifugo   adds Centrifugo to the paced benchmark (built once,
//                                                  ~10 min the first time; never in --smoke)
//
// Exit code: 0 when every benchmark ran without a problem; 1 otherwise (the table says which).

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runConnections } from './connections.js';
import { runGroupFanout } from './group-fanout.js';
import { runHistory } from './history.js';
import { runHttpSend } from './http-send.js';
import { createContext, SETTINGS_LINE, writeResults, type BenchContext } from './lib/cli.js';
import { machineInfo } from './lib/machine.js';
import { benchMongoBaseUri, probeMongo } from './lib/mongo.js';
import { newResult, renderMarkdown, type BenchResult } from './lib/report.js';
import { repoDir } from './lib/servers.js';
import { runReplay } from './replay.js';
import { runWsSend } from './ws-send.js';
import { runPaced } from './paced.js';

type Bench = (ctx: BenchContext) => Promise<BenchResult>;

const storeWriteFile = join(repoDir, 'bench', 'store-write.ts');

/**
 * bench/store-write.ts belongs to the Mongo store's owner. If it exports `runStoreWrite(ctx)` it runs
 * in-process like the others; otherwise it runs as a script (with --smoke in a smoke run) and its output
 * is embedded, a non-zero exit counting as a problem.
 */
async function storeWrite(ctx: BenchContext): Promise<BenchResult> {
  const text = readFileSync(storeWriteFile, 'utf8');
  if (/export\s+(async\s+)?function\s+runStoreWrite\b|export\s+const\s+runStoreWrite\b/.test(text)) {
    const mod = (await import(storeWriteFile)) as { runStoreWrite: Bench };
    return mod.runStoreWrite(ctx);
  }
  // Smoke: a few hundred messages (the script reads its sizes from the environment). The full set:
  // 5,000, unless STORE_N says otherwise. The script's own default (20,000) outlasts the 5-minute
  // bound on FerretDB, whose per-row cost holds the unbatched rows to ~130-230 msgs/s here.
  const env: Record<string, string> = ctx.smoke
    ? { STORE_N: '300', STORE_WARMUP: '50', STORE_CONCURRENCY: '8' }
    : process.env.STORE_N === undefined ? { STORE_N: '5000', STORE_WARMUP: '500' } : {};
  const result = newResult(
    'store-write',
    'MongoDB: batched MongoStore writes vs one insertOne per message (bench/store-write.ts)',
    Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ') || 'the script\'s defaults (see its header)',
  );
  const why = await probeMongo(benchMongoBaseUri());
  if (why !== undefined) {
    const line = `MongoDB not usable (${why}): store-write skipped`;
    if (process.env.REQUIRE_MONGO === '1') result.problems.push(line);
    else result.notes.push(line);
    return result;
  }
  ctx.log('store-write: running bench/store-write.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', storeWriteFile, ...(ctx.smoke ? ['--smoke'] : [])], {
    cwd: repoDir,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: ctx.smoke ? 120_000 : 300_000,
  });
  const out = (r.stdout ?? '').trim();
  if (r.status !== 0) result.problems.push(`bench/store-write.ts exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  // Its table: | batched MongoStore (…) | msgs/s | … and | one insertOne per message | msgs/s | …
  const rate = (prefix: string) => Number(new RegExp(`^\\| ${prefix}[^|]*\\| (\\d+) \\|`, 'm').exec(out)?.[1] ?? NaN);
  const batched = rate('batched');
  const single = rate('one insertOne');
  if (Number.isFinite(batched) && Number.isFinite(single)) {
    result.figures.push({ name: 'Mongo writes: batched MongoStore', value: batched, unit: 'msgs/s', baseline: { name: 'one insertOne per message', value: single }, target: { text: '≥ 10× one-insert', met: batched >= 10 * single } });
  }
  result.verbatim = out;
  return result;
}

const benches: [string, Bench][] = [
  ['ws-send', runWsSend],
  ['http-send', runHttpSend],
  ['connections', runConnections],
  ['replay', runReplay],
  ['group-fanout', runGroupFanout],
  ['history', runHistory],
];
if (existsSync(storeWriteFile)) benches.push(['store-write', storeWrite]);

const started = performance.now();
const ctx = createContext(process.argv.slice(2));
// --only picks benchmarks here and must not reach them: ws-send and http-send read their own --only
// as the servers to run, and `--only ws-send` then ran no server at all.
const only = ctx.args.str('only')?.split(',');
ctx.args.delete('only');
// The paced benchmark (issue 16) runs in the smoke run too, at 20 senders for 1 s: it is where CI
// checks the Go generator's exactly-once accounting against the server. Its peers (Centrifugo) never do.
benches.splice(1, 0, ['paced', runPaced]);
if (ctx.smoke && ctx.args.has('peers')) throw new Error('--peers is not for --smoke runs (CI): Centrifugo takes minutes to build');
const machine = machineInfo(repoDir);
const results: BenchResult[] = [];
for (const [name, run] of benches) {
  if (only && !only.includes(name)) continue;
  ctx.log(`── ${name}`);
  const t0 = performance.now();
  try {
    results.push(await run(ctx));
  } catch (e) {
    // One broken benchmark must not hide the others' figures; it fails the run all the same.
    const failed = newResult(name, 'failed', '—');
    failed.problems.push(`did not complete: ${e instanceof Error ? e.message : String(e)}`);
    results.push(failed);
    ctx.log(`${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  ctx.log(`${name} took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

const markdown = renderMarkdown(
  {
    machine,
    servers: ctx.ours.map((b) => `${b.label}: ${b.describe}`),
    settings: SETTINGS_LINE,
    mode: ctx.smoke ? 'smoke: tiny sizes, figures are not meaningful, only correctness is checked' : 'npm run bench',
    elapsedSec: (performance.now() - started) / 1000,
  },
  results,
);
process.stdout.write(markdown + '\n');
// A smoke run's tiny figures never replace the last real report.
const file = writeResults(ctx.smoke ? 'smoke' : 'run', markdown, results, !ctx.smoke);
ctx.log(`report${ctx.smoke ? '' : ' (also bench/results/latest.md)'}: ${file.replace(/\.json$/, '.md')}`);
const problems = results.reduce((n, r) => n + r.problems.length, 0);
if (problems > 0) ctx.log(`${problems} problem(s): see the table`);
process.exit(problems > 0 ? 1 : 0);
