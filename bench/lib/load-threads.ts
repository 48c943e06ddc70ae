// One interface over "a runner in this thread" and "a runner in a worker
// thread", so the orchestrator doesn't care where the load runs.

import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createRunner } from './load-runner.js';
import type { ThreadConfig, ThreadResult } from './load-types.js';

export interface ThreadHandle {
  readonly connected: Promise<void>;
  start(budget: number): void;
  readonly finished: Promise<void>;
  stop(): Promise<ThreadResult>;
  close(): Promise<void>;
}

export function localThread(cfg: ThreadConfig): ThreadHandle {
  const runner = createRunner(cfg);
  return {
    connected: runner.connect(),
    start: (budget) => runner.start(budget),
    finished: runner.finished,
    stop: () => runner.stop(),
    close: () => runner.close(),
  };
}

type WorkerEvent =
  | { ev: 'connected' }
  | { ev: 'finished' }
  | { ev: 'result'; result: ThreadResult }
  | { ev: 'closed' }
  | { ev: 'error'; message: string };

/**
 * Worker source. Under tsx, a Worker given a .ts file fails on Node 20 (the
 * --import hook is not applied inside workers), so we boot through a tiny
 * eval'd ESM module that registers tsx's loader first and then imports the
 * real entry. When bench is compiled to .js, the entry is imported directly.
 */
function workerBoot(): string {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const entry = new URL(`./ws-load-worker${ext}`, import.meta.url).href;
  if (ext !== '.ts') return `await import(${JSON.stringify(entry)});`;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return `const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(entry)});`;
}

export function workerThread(cfg: ThreadConfig): ThreadHandle {
  const worker = new Worker(workerBoot(), { eval: true, workerData: cfg });
  // Each pending request waits for one event type; an error or exit fails them all.
  const waiters = new Map<string, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  const waitFor = <T>(ev: string): Promise<T> =>
    new Promise<T>((resolve, reject) => waiters.set(ev, { resolve: resolve as (v: never) => void, reject }));
  const failAll = (e: Error): void => {
    for (const w of waiters.values()) w.reject(e);
    waiters.clear();
  };
  worker.on('message', (m: WorkerEvent) => {
    if (m.ev === 'error') return failAll(new Error(`load worker: ${m.message}`));
    const w = waiters.get(m.ev);
    waiters.delete(m.ev);
    w?.resolve((m.ev === 'result' ? m.result : undefined) as never);
  });
  worker.on('error', (e) => failAll(e));
  worker.on('exit', (code) => failAll(new Error(`load worker exited (code ${code})`)));

  const connected = waitFor<void>('connected');
  const finished = waitFor<void>('finished');
  finished.catch(() => {}); // only awaited in count mode
  return {
    connected,
    finished,
    start: (budget) => worker.postMessage({ cmd: 'start', budget }),
    stop: () => {
      const p = waitFor<ThreadResult>('result');
      worker.postMessage({ cmd: 'stop' });
      return p;
    },
    close: async () => {
      const p = waitFor<void>('closed');
      worker.postMessage({ cmd: 'close' });
      await p.catch(() => {});
      await worker.terminate();
    },
  };
}
