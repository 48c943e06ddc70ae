// The servers a benchmark starts: ours (compiled from the working tree or from any git ref, so a
// before/after comparison is one flag) and the baselines in bench/baselines/.
//
// Ours is compiled with tsc into a private directory under bench/.tmp/ rather than dist/: other
// engineers build dist/ while we measure, and a ref's build must not overwrite the working tree's.
// It runs compiled (no tsx loader in the process, nothing in the profile that production lacks),
// with production settings, metrics on, and the per-user send and confirmation rate limits raised (said in every table).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from './spawn.js';

export const repoDir = fileURLToPath(new URL('../../', import.meta.url));
const tmpDir = join(repoDir, 'bench', '.tmp');

export const BENCH_JWT_SECRET = 'bench-jwt-secret-0123456789abcdef0123456789';
export const BENCH_METRICS_KEY = 'bench-metrics-key-0123456789';
/** Raised from the defaults (50/s, burst 100 per user), which a benchmark passes in milliseconds. */
export const BENCH_SEND_RATE = 10_000_000;

export interface ServerBuild {
  /** "ours" for the working tree, "ours@<ref>" for a git ref. */
  label: string;
  /** Node arguments before the server's own (e.g. --import tsx). */
  nodeArgs: string[];
  entry: string;
  /** What was built, for the report: "working tree (compiled)", "v1.2 = 1a2b3c4 (compiled)". */
  describe: string;
}

function tsc(tsconfig: string, outDir: string): void {
  const bin = join(repoDir, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc writes its output even when it finds type errors; a half-edited tree still runs, with a warning.
  const r = spawnSync(process.execPath, [bin, '-p', tsconfig, '--outDir', outDir, '--sourceMap', 'false'], { encoding: 'utf8' });
  if (r.status !== 0) {
    const first = (r.stdout + r.stderr).split('\n').filter(Boolean).slice(0, 5).join('\n  ');
    if (!existsSync(join(outDir, 'main.js'))) throw new Error(`tsc failed for ${tsconfig}:\n  ${first}`);
    process.stderr.write(`bench: warning: tsc reported errors (the output is used anyway):\n  ${first}\n`);
  }
}

const cleanups: string[] = [];
let cleanupHooked = false;
function removeAtExit(dir: string): void {
  cleanups.push(dir);
  if (cleanupHooked) return;
  cleanupHooked = true;
  process.on('exit', () => {
    for (const d of cleanups) rmSync(d, { recursive: true, force: true });
  });
}

/**
 * Our server, ready to start. `ref` compiles that commit's src/ (cached per commit); without it the
 * working tree is compiled now (fresh each run: the tree changes under us). `fromSource` skips
 * compiling and runs src/main.ts through tsx (quicker; what the smoke run uses).
 */
export function prepareOurServer(o: { ref?: string; fromSource?: boolean } = {}): ServerBuild {
  mkdirSync(tmpDir, { recursive: true });
  if (o.ref === undefined) {
    if (o.fromSource) {
      return { label: 'ours', nodeArgs: ['--import', 'tsx'], entry: join(repoDir, 'src', 'main.ts'), describe: 'working tree (tsx, from source)' };
    }
    const out = mkdtempSync(join(tmpDir, 'build-worktree-'));
    removeAtExit(out);
    tsc(join(repoDir, 'tsconfig.build.json'), out);
    return { label: 'ours', nodeArgs: [], entry: join(out, 'main.js'), describe: 'working tree (compiled)' };
  }
  const sha = execFileSync('git', ['rev-parse', '--verify', `${o.ref}^{commit}`], { cwd: repoDir, encoding: 'utf8' }).trim();
  const short = sha.slice(0, 9);
  const dir = join(tmpDir, `ref-${sha}`);
  const entry = join(dir, 'dist', 'main.js');
  if (!existsSync(entry)) {
    // Built beside, then renamed: two runs building the same ref never see a half-written tree.
    // Inside the repository, so the compiled files find node_modules by walking up.
    const work = mkdtempSync(join(tmpDir, `ref-build-`));
    try {
      const tar = execFileSync('git', ['archive', '--format=tar', sha, 'src', 'tsconfig.json', 'tsconfig.build.json'], { cwd: repoDir, maxBuffer: 1 << 28 });
      execFileSync('tar', ['-x', '-C', work], { input: tar });
      tsc(join(work, 'tsconfig.build.json'), join(work, 'dist'));
      try {
        renameSync(work, dir);
      } catch {
        if (!existsSync(entry)) throw new Error(`could not place the build of ${o.ref} at ${dir}`);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return { label: `ours@${o.ref}`, nodeArgs: [], entry, describe: `${o.ref} = ${short} (compiled)` };
}

export interface OurServerOptions {
  /** `mem` (default) or a mongodb:// URI. */
  dbUri?: string;
  /** Extra or overriding environment. */
  env?: Record<string, string>;
  /** Write a V8 CPU profile of the server into this directory (on its graceful exit). */
  cpuProfDir?: string;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Open files the server needs; raised with prlimit when the current limit is lower. */
  nofile?: number;
}

/** Production settings (every required variable set, metrics on, secret mode), send and confirmation rates raised. */
export function ourServerEnv(dbUri = 'mem'): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    JWT_SECRET: BENCH_JWT_SECRET,
    DB_URI: dbUri,
    COOKIE_DOMAIN: 'localhost',
    CORS_ORIGIN: 'http://localhost',
    WS_PATH: '/ws',
    METRICS_MODE: 'secret',
    METRICS_SECRET: BENCH_METRICS_KEY,
    SEND_RATE_PER_SEC: String(BENCH_SEND_RATE),
    SEND_BURST: String(BENCH_SEND_RATE),
    // A few recipients confirm what thousands of users would: their per-user budget is raised the same way.
    DELIVERED_RATE_PER_SEC: String(BENCH_SEND_RATE),
    DELIVERED_BURST: String(BENCH_SEND_RATE),
    // The history benchmark reads as one user what many would (a build before these limits ignores them).
    API_READ_RATE_PER_SEC: String(BENCH_SEND_RATE),
    API_READ_BURST: String(BENCH_SEND_RATE),
    // The connection benchmarks open thousands of sockets for few users at once.
    CONNECT_RATE_PER_SEC: String(BENCH_SEND_RATE),
    CONNECT_BURST: String(BENCH_SEND_RATE),
    // The replay benchmark replays what many users would, as one.
    REPLAY_RATE_PER_SEC: String(BENCH_SEND_RATE),
    REPLAY_BURST: String(BENCH_SEND_RATE),
    LOG_LEVEL: 'info',
    SERVE_DEMO: 'false',
    ...benchEnvOverrides(),
  };
}

/**
 * Settings a run changes in ours' environment, so a before/after needs no code edit:
 * BENCH_OURS_ENV='METRICS_MODE=off LOG_LEVEL=warn' (space-separated KEY=VALUE pairs, values without
 * spaces) overrides anything above; BENCH_BUS_URI=nats://… is short for BENCH_OURS_ENV='BUS_URI=nats://…'
 * (ours with the live bus on: it publishes every message). Shown in every report's settings line.
 */
export function benchEnvOverrides(): Record<string, string> {
  const out: Record<string, string> = {};
  if (process.env.BENCH_BUS_URI) out.BUS_URI = process.env.BENCH_BUS_URI;
  for (const pair of (process.env.BENCH_OURS_ENV ?? '').split(/\s+/).filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`BENCH_OURS_ENV: "${pair}" is not KEY=VALUE`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

function profileArgs(dir: string | undefined, name: string): string[] {
  if (dir === undefined) return [];
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`];
}

/** BENCH_SERVER_LOG=1 copies every server output line to stderr (for a server that dies mid-run). */
const echoLines = process.env.BENCH_SERVER_LOG === '1' ? (line: string) => process.stderr.write(`  [server] ${line}\n`) : undefined;

/**
 * BENCH_OURS_NODE_ARGS='--trace-gc --max-semi-space-size=16': Node and V8 flags for ours, space-separated
 * (V8's are refused in NODE_OPTIONS). With BENCH_SERVER_LOG=1 to see what they print.
 */
const ourNodeArgs = (process.env.BENCH_OURS_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

export function startOurServer(build: ServerBuild, o: OurServerOptions = {}): Promise<RunningServer> {
  return startServer({
    command: process.execPath,
    args: [...profileArgs(o.cpuProfDir, build.label.replace(/[^A-Za-z0-9_.-]/g, '_')), ...ourNodeArgs, ...build.nodeArgs, build.entry],
    cwd: repoDir,
    env: { ...ourServerEnv(o.dbUri), ...o.env },
    onLine: o.onLine ?? echoLines,
    timeoutMs: 30_000,
    nofile: o.nofile,
  });
}

export type BaselineName = 'uws-echo' | 'fastify-post' | 'socketio-ack' | 'uws-chat-memory';

export function startBaseline(name: BaselineName, o: { cpuProfDir?: string; nofile?: number } = {}): Promise<RunningServer> {
  return startServer({
    command: process.execPath,
    args: [...profileArgs(o.cpuProfDir, name), '--import', 'tsx', join(repoDir, 'bench', 'baselines', `${name}.ts`)],
    cwd: repoDir,
    env: { JWT_SECRET: BENCH_JWT_SECRET, NODE_ENV: 'production' },
    onLine: echoLines,
    nofile: o.nofile,
  });
}

/** Stop a server and wait long enough for a CPU profile to be written. */
export function stopServer(s: RunningServer, profiling: boolean): Promise<void> {
  return s.stop(profiling ? 30_000 : 5000);
}

/** The open-files limit (soft) of a running process, from /proc/<pid>/limits. */
export function fdLimit(pid: number): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 0);
}
