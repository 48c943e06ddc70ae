// Start a server process for a benchmark, wait until it is ready, and make
// sure it dies with the benchmark no matter how the benchmark ends.
//
// Why a process group: servers are often started via wrappers that fork
// (tsx CLI, npm). Spawning detached makes the child a group leader, so one
// kill(-pid) reaches the wrapper and the real server alike.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { createInterface } from 'node:readline';

export interface StartServerOptions {
  command: string;
  args?: string[];
  /** Merged over process.env. PORT is set to `port` unless given here. */
  env?: Record<string, string>;
  cwd?: string;
  /** Port to pass as PORT; a free one is picked when omitted. */
  port?: number;
  /**
   * Readiness test on each stdout/stderr line. Default: the line contains
   * "msg":"listening" (our JSON log convention). Ignored when `waitForPort`.
   */
  readyLine?: (line: string) => boolean;
  /** Consider the server ready once `port` accepts TCP connections instead. */
  waitForPort?: boolean;
  timeoutMs?: number;
  /** Called with every output line (after readiness too); e.g. for debugging. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Open files the process needs (see withNofile); the caller checks what it got. */
  nofile?: number;
}

const PRLIMIT = '/usr/bin/prlimit';

/**
 * `command args` run with an open-files limit of at least `n`. Node raises its soft RLIMIT_NOFILE to
 * the hard limit at startup but never the hard one, and tens of thousands of sockets can pass it, so
 * util-linux `prlimit` raises both and execs the command (same pid, inherited fds, fork's IPC channel
 * included). Raising a hard limit takes root with CAP_SYS_RESOURCE (containers often drop it): probed
 * first; when refused, or prlimit is missing, the command is unchanged and the caller, which reads
 * /proc/<pid>/limits, says what to do.
 */
export function withNofile(n: number | undefined, command: string, args: string[]): { command: string; args: string[] } {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const num = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Infinity : Number(v));
  const [soft, hard] = [num(m?.[1]), num(m?.[2])];
  if (n === undefined || n <= soft || !existsSync(PRLIMIT)) return { command, args };
  // Up to the hard limit anyone may raise the soft one (matters for commands other than node).
  const lim = n <= hard ? `${n}:` : `${n}:${n}`;
  if (n > hard && spawnSync(PRLIMIT, [`--nofile=${lim}`, '--', 'true']).status !== 0) return { command, args };
  return { command: PRLIMIT, args: [`--nofile=${lim}`, '--', command, ...args] };
}

export interface RunningServer {
  pid: number;
  port: number;
  child: ChildProcess;
  /** Last output lines (both streams), for error messages. */
  tail(): string[];
  /** SIGTERM the group, SIGKILL after graceMs; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

// 'exit' runs on normal end, process.exit() and uncaught exceptions; only
// synchronous work is possible there, hence SIGKILL. Signals need explicit
// handlers because the default action would skip 'exit'.
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const c of live) killGroup(c, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const c of live) killGroup(c, 'SIGKILL');
      process.exit(130);
    });
  }
}

/** Ask the kernel for a currently free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function portAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function portFromLine(line: string): number | undefined {
  try {
    const v = (JSON.parse(line) as { port?: unknown }).port;
    return typeof v === 'number' && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

const defaultReady = (line: string): boolean => line.includes('"msg":"listening"');

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  installHooks();
  const port = opts.port ?? (await freePort());
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const cmd = withNofile(opts.nofile, opts.command, opts.args ?? []);
  const child = spawn(cmd.command, cmd.args, {
    cwd: opts.cwd,
    env: { ...process.env, PORT: String(port), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  // Don't let a forgotten stop() keep the benchmark alive: once our own work
  // is done the process exits, and the 'exit' hook kills the server.
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => live.delete(child));

  const lines: string[] = [];
  let onReadyLine: ((line: string) => void) | undefined;
  // Always drain both pipes: a server that logs per request would otherwise
  // block on a full pipe and the benchmark would measure our reading speed.
  for (const [stream, name] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
    (stream as unknown as { unref?: () => void }).unref?.();
    createInterface({ input: stream! }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      opts.onLine?.(line, name);
      onReadyLine?.(line);
    });
  }

  const server: RunningServer = {
    pid: child.pid!,
    port,
    child,
    tail: () => lines.slice(),
    async stop(graceMs = 3000) {
      // The child is unref'd (above): awaited with nothing else pending, its exit would never be seen
      // and the benchmark would end with an unsettled await (exit code 13).
      child.ref();
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };

  const ready = new Promise<void>((resolve, reject) => {
    const fail = (why: string): void =>
      reject(new Error(`${why}: ${opts.command} ${(opts.args ?? []).join(' ')}\n${lines.slice(-30).join('\n')}`));
    const timer = setTimeout(() => fail(`server not ready after ${timeoutMs} ms`), timeoutMs);
    child.once('error', (e) => fail(`spawn failed (${e.message})`));
    void exited.then(() => fail(`server exited early (code ${child.exitCode}, signal ${child.signalCode})`));
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    if (opts.waitForPort) {
      const poll = async (): Promise<void> => {
        while (child.exitCode === null && child.signalCode === null) {
          if (await portAccepts(port)) return done();
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      void poll();
    } else {
      const test = opts.readyLine ?? defaultReady;
      onReadyLine = (line) => {
        if (test(line)) {
          onReadyLine = undefined;
          // Trust the port the server says it bound (matters with PORT=0).
          const said = portFromLine(line);
          if (said !== undefined) server.port = said;
          done();
        }
      };
    }
  });

  try {
    await ready;
  } catch (e) {
    await server.stop(500);
    throw e;
  }
  return server;
}
