// The lean paced load generator in Go (bench/go/leangen): lean-load.ts's offered load, protocol
// modes and exactly-once accounting, at a fraction of its CPU per message, so that on 2 cores the
// paced figure is the server's and not the generator's (`bench/paced.ts --gen go`).
//
// The program is built once with the local Go toolchain into the cache (like Centrifugo, see
// centrifugo.ts), keyed on a hash of its sources and the Go version: an edit of bench/go/leangen
// rebuilds it (a few seconds; stdlib only, nothing is downloaded). It runs as a child process, one
// per load thread, driven over JSON lines on its stdin/stdout (see bench/go/leangen/main.go); the
// ThreadHandle here is that conversation. Its CPU over the measured window is added to the
// generator's (runWsLoad's extraGeneratorCpuUs), so the report's generator figure is Node + Go.
//
// Environment: LEANGEN_CACHE_DIR (default ~/.cache/uws-chat-backend), GO (the go command, default
// `go` on PATH, else /usr/local/go/bin/go), LEANGEN_CPUPROFILE (a Go CPU profile of each window).

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { makeBodyPool } from './bodies.js';
import type { LeanLoadOptions, LeanMode } from './lean-load.js';
import { epochNow, type ThreadConfig, type ThreadResult } from './load-types.js';
import type { ThreadHandle } from './load-threads.js';
import { readProcCpu } from './proc-cpu.js';
import { Histogram, type HistogramData } from './stats.js';
import { runWsLoad, type LoadReport } from './ws-load.js';

export const leangenSourceDir = fileURLToPath(new URL('../go/leangen/', import.meta.url));
const cacheDir = process.env.LEANGEN_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'uws-chat-backend');

/** runWsLoad's orchestration and report, with the Go runner in a child process. */
export function runGoLoad(o: LeanLoadOptions): Promise<LoadReport> {
  const bin = ensureLeangen();
  const { mode, ...rest } = o;
  const pids: number[] = [];
  return runWsLoad({
    ...rest,
    mode: mode === 'echo' ? 'echo' : 'chat',
    createThread: (cfg) => goThread(bin, cfg, mode, pids),
    extraGeneratorCpuUs: () => pids.reduce((s, pid) => s + readProcCpu(pid).totalUs, 0),
  });
}

// ── the binary ────────────────────────────────────────────────────────────────────────────────

let goCmd: string | undefined;

function go(): string {
  if (goCmd) return goCmd;
  for (const cmd of [process.env.GO ?? 'go', '/usr/local/go/bin/go']) {
    try {
      execFileSync(cmd, ['version'], { stdio: 'ignore' });
      return (goCmd = cmd);
    } catch {
      /* next */
    }
  }
  throw new Error('--gen go needs the Go toolchain (1.22 or later, https://go.dev/dl/): no `go` on PATH or in /usr/local/go/bin');
}

/** True when `go` runs here: paced.ts then takes this generator by default. */
export function hasGoToolchain(): boolean {
  try {
    go();
    return true;
  } catch {
    return false;
  }
}

let built: string | undefined;

/** The cached binary for the current sources, built with `go build` the first time (seconds). */
export function ensureLeangen(log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): string {
  if (built) return built;
  const cmd = go();
  const hash = createHash('sha256');
  hash.update(execFileSync(cmd, ['version'], { encoding: 'utf8' }));
  for (const name of readdirSync(leangenSourceDir).filter((n) => n.endsWith('.go') || n === 'go.mod' || n === 'go.sum').sort()) {
    hash.update(`\0${name}\0`).update(readFileSync(join(leangenSourceDir, name)));
  }
  const bin = join(cacheDir, `leangen-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(bin)) return (built = bin);
  mkdirSync(cacheDir, { recursive: true });
  const tmp = mkdtempSync(join(cacheDir, 'leangen-build-'));
  log(`go load generator: building ${leangenSourceDir} …`);
  const t0 = Date.now();
  try {
    execFileSync(cmd, ['build', '-trimpath', '-o', join(tmp, 'leangen'), '.'], {
      cwd: leangenSourceDir,
      env: { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local', CGO_ENABLED: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    renameSync(join(tmp, 'leangen'), bin);
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`go build of ${leangenSourceDir} failed: ${err.stderr?.toString().trim() || err.message}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Builds of earlier sources: not needed any more (a running one keeps its inode).
  for (const name of readdirSync(cacheDir)) {
    if (/^leangen-[0-9a-f]{16}$/.test(name) && join(cacheDir, name) !== bin) rmSync(join(cacheDir, name), { force: true });
  }
  log(`go load generator: built ${bin} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return (built = bin);
}

// ── the child ─────────────────────────────────────────────────────────────────────────────────

/** A histogram as leangen writes it: stats.ts's buckets, the non-zero ones as [index, count]. */
interface GoHistogram {
  buckets: number;
  counts: [number, number][];
  count: number;
  sumUs: number;
  minUs: number | null;
  maxUs: number;
}

type GoResult = Omit<ThreadResult, 'ack' | 'delivered' | 'lastEventAt'> & { ack: GoHistogram; delivered: GoHistogram; lastEventMs: number; cpuUs: number };

type GoEvent = { ev: 'connected' } | { ev: 'finished' } | { ev: 'result'; result: GoResult } | { ev: 'closed' } | { ev: 'error'; message: string };

function histogramData(g: GoHistogram): HistogramData {
  const h = new Histogram();
  if (g.buckets !== h.counts.length) throw new Error(`go load generator: histogram of ${g.buckets} buckets, stats.ts has ${h.counts.length}`);
  for (const [i, c] of g.counts) h.counts[i] = c;
  h.count = g.count;
  h.sumUs = g.sumUs;
  h.minUs = g.minUs ?? Number.POSITIVE_INFINITY;
  h.maxUs = g.maxUs;
  return h.toData();
}

function goThread(bin: string, cfg: ThreadConfig, mode: LeanMode, pids: number[]): ThreadHandle {
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid !== undefined) pids.push(child.pid);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  child.stdin.on('error', () => {}); // EPIPE once it has gone: its exit says why
  const tail = (): string => (stderr.trim() ? `\n${stderr.trim()}` : '');

  // Each pending request waits for one event type; an error event or the child's exit fails them all.
  const waiters = new Map<string, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  const failAll = (e: Error): void => {
    failure ??= e;
    for (const w of waiters.values()) w.reject(e);
    waiters.clear();
  };
  const waitFor = <T>(ev: string): Promise<T> =>
    failure ? Promise.reject(failure) : new Promise<T>((resolve, reject) => waiters.set(ev, { resolve: resolve as (v: never) => void, reject }));

  let exited = false;
  let closing = false;
  const exit = new Promise<void>((resolve) => {
    child.once('error', (e) => {
      exited = true;
      failAll(new Error(`go load generator (${bin}): ${e.message}`));
      resolve();
    });
    child.once('close', (code, signal) => {
      exited = true;
      failAll(new Error(`go load generator (${bin}) exited (${signal ?? `code ${code}`})${closing ? ' while closing' : ''}${tail()}`));
      resolve();
    });
  });

  let startedAt = 0;
  const toResult = (r: GoResult): ThreadResult => {
    const { cpuUs: _cpu, lastEventMs, ack, delivered, ...tally } = r;
    return { ...tally, ack: histogramData(ack), delivered: histogramData(delivered), lastEventAt: lastEventMs >= 0 ? startedAt + lastEventMs : 0 };
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m: GoEvent;
    try {
      m = JSON.parse(line) as GoEvent;
    } catch {
      return failAll(new Error(`go load generator: unreadable line ${JSON.stringify(line.slice(0, 200))}${tail()}`));
    }
    if (m.ev === 'error') return failAll(new Error(`go load generator: ${m.message}${tail()}`));
    const w = waiters.get(m.ev);
    waiters.delete(m.ev);
    if (!w) return;
    if (m.ev !== 'result') return w.resolve(undefined as never);
    try {
      w.resolve(toResult(m.result) as never);
    } catch (e) {
      w.reject(e as Error);
    }
  });
  const send = (m: unknown): void => {
    if (!exited) child.stdin.write(`${JSON.stringify(m)}\n`);
  };

  const connected = waitFor<void>('connected');
  const finished = waitFor<void>('finished');
  finished.catch(() => {}); // only awaited in count mode
  send({
    cmd: 'connect',
    config: {
      mode,
      url: cfg.url,
      window: cfg.window,
      pairs: cfg.pairs,
      tag: cfg.tag,
      bodyMin: cfg.bodyMin,
      bodyMax: cfg.bodyMax,
      bodies: makeBodyPool(cfg.bodyMin, cfg.bodyMax),
      drainMs: cfg.drainMs,
      connectTimeoutMs: cfg.connectTimeoutMs,
      ratePerSec: cfg.ratePerSec ?? 0,
    },
  });
  return {
    connected,
    finished,
    start: (budget) => {
      startedAt = epochNow();
      send({ cmd: 'start', budget: Number.isFinite(budget) ? budget : -1 });
    },
    stop: () => {
      const p = waitFor<ThreadResult>('result');
      send({ cmd: 'stop' });
      return p;
    },
    close: async () => {
      closing = true;
      if (!exited) {
        const p = waitFor<void>('closed');
        send({ cmd: 'close' });
        await p.catch(() => {});
        child.stdin.end();
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}
