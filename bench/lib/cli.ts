// The command line every benchmark shares, and the context it hands to a benchmark:
//
//   --smoke            tiny sizes, seconds each (CI): only errors, lost or duplicated messages fail
//   --ref <git-ref>    measure that commit's server instead of the working tree
//   --compare <ref>    measure the working tree AND <ref> in the same run (ratios: ours / ours@ref)
//   --profile [dir]    write a V8 CPU profile of every server (default bench/results/profiles/)
//   --source           run our server from src/ through tsx instead of compiling it
//   --<name> <value>   a benchmark's own sizes (--pairs 64 --seconds 5 …), see each file's header
//
// Progress goes to stderr; stdout gets only the Markdown table.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { machineInfo } from './machine.js';
import { renderMarkdown, type BenchResult } from './report.js';
import { BENCH_SEND_RATE, benchEnvOverrides, prepareOurServer, repoDir, type ServerBuild } from './servers.js';

export class Args {
  private readonly values = new Map<string, string>();
  readonly flags = new Set<string>();

  constructor(argv: readonly string[]) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
      const eq = a.indexOf('=');
      if (eq > 0) {
        this.values.set(a.slice(2, eq), a.slice(eq + 1));
        continue;
      }
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        this.values.set(a.slice(2), next);
        i++;
      } else {
        this.flags.add(a.slice(2));
      }
    }
  }

  /** Forgets a flag or value: one that a runner consumed and must not reach what it runs. */
  delete(name: string): void {
    this.flags.delete(name);
    this.values.delete(name);
  }

  has(name: string): boolean {
    return this.flags.has(name) || this.values.has(name);
  }

  str(name: string): string | undefined {
    return this.values.get(name);
  }

  num(name: string, fallback: number): number {
    const v = this.values.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${v}"`);
    return n;
  }
}

export interface BenchContext {
  smoke: boolean;
  /** Our server builds to measure: the working tree (or --ref), plus --compare's ref. */
  ours: ServerBuild[];
  args: Args;
  /** Where servers write CPU profiles, when --profile was given. */
  profileDir: string | undefined;
  log(message: string): void;
}

export const resultsDir = join(repoDir, 'bench', 'results');

export function createContext(argv: readonly string[]): BenchContext {
  const args = new Args(argv);
  const smoke = args.has('smoke');
  const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
  const fromSource = args.has('source');
  log(fromSource ? 'running our server from source (tsx)' : 'compiling our server (tsc) …');
  const ours = [prepareOurServer({ ref: args.str('ref'), fromSource })];
  const compare = args.str('compare');
  if (compare !== undefined) {
    log(`compiling ${compare} for comparison …`);
    ours.push(prepareOurServer({ ref: compare }));
  }
  const profileDir = args.has('profile') ? (args.str('profile') ?? join(resultsDir, 'profiles')) : undefined;
  return { smoke, ours, args, profileDir, log };
}

export const SETTINGS_LINE =
  `ours runs with NODE_ENV=production, metrics on (METRICS_MODE=secret, default collectors), DB_URI=mem unless said, ` +
  `LOG_LEVEL=info, SEND_RATE_PER_SEC=SEND_BURST=DELIVERED_RATE_PER_SEC=DELIVERED_BURST=API_READ_RATE_PER_SEC=API_READ_BURST=CONNECT_RATE_PER_SEC=CONNECT_BURST=REPLAY_RATE_PER_SEC=REPLAY_BURST=${BENCH_SEND_RATE.toLocaleString('en-US')} ` +
  `(raised from 50/100, 1000/5000, 20/100, 5/50 and 5000/50000 so the per-user rate limits do not refuse benchmark load: a few benchmark users ` +
  `send, confirm and read what thousands would); all other settings at their defaults` +
  // A before/after run (BENCH_OURS_ENV, BENCH_BUS_URI) must say which side it is; URI passwords stay out.
  (Object.keys(benchEnvOverrides()).length ? `; overridden for this run: ${Object.entries(benchEnvOverrides()).map(([k, v]) => `${k}=${v.replace(/\/\/[^@/]*@/, '//…@')}`).join(' ')}` : '');

export function writeResults(name: string, markdown: string, results: BenchResult[], latest: boolean): string {
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = join(resultsDir, `${name}-${stamp}.json`);
  writeFileSync(json, JSON.stringify(results, null, 2));
  writeFileSync(join(resultsDir, `${name}-${stamp}.md`), markdown);
  if (latest) writeFileSync(join(resultsDir, 'latest.md'), markdown);
  return json;
}

/**
 * Entry point of a single benchmark file: run, print the table, save it, exit 1 on any problem.
 * `run` gets the shared context; a throw counts as a problem too.
 */
export async function benchMain(name: string, run: (ctx: BenchContext) => Promise<BenchResult[]>): Promise<void> {
  const started = performance.now();
  const ctx = createContext(process.argv.slice(2));
  let results: BenchResult[] = [];
  let failure: unknown;
  try {
    results = await run(ctx);
  } catch (e) {
    failure = e;
  }
  const markdown = renderMarkdown(
    {
      machine: machineInfo(repoDir),
      servers: ctx.ours.map((b) => `${b.label}: ${b.describe}`),
      settings: SETTINGS_LINE,
      mode: `${name}${ctx.smoke ? ', smoke' : ''}`,
      elapsedSec: (performance.now() - started) / 1000,
    },
    results,
  );
  process.stdout.write(markdown + '\n');
  const file = writeResults(name, markdown, results, false);
  ctx.log(`full results: ${file}`);
  if (failure !== undefined) {
    process.stderr.write(`bench ${name} failed: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}\n`);
    process.exit(1);
  }
  const problems = results.reduce((n, r) => n + r.problems.length, 0);
  process.exit(problems > 0 ? 1 : 0);
}

/** True when the module at `url` is the script node was started with (not imported by the runner). */
export function isMain(url: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && url === pathToFileURL(resolve(entry)).href;
}
