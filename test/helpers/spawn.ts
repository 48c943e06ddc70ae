// Runs the real server process (src/main.ts through tsx) with exactly the given environment, for the
// env contract, signals and multi-process tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  /** Resolves the port from the "listening" log line; rejects if the process exits first. */
  readonly listening: Promise<number>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stdout(): string;
  stderr(): string;
  kill(signal?: NodeJS.Signals): void;
}

/** `preload`: extra modules loaded before main.ts (e.g. a fault injected into the real process). */
export function spawnServer(env: Record<string, string>, options: { preload?: readonly string[] } = {}): ServerProcess {
  const preloads = (options.preload ?? []).flatMap((file) => ['--import', file]);
  const child = spawn(process.execPath, ['--import', 'tsx', ...preloads, 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err })),
  );
  const listening = new Promise<number>((resolve, reject) => {
    const onData = () => {
      for (const line of out.split('\n')) {
        if (!line.includes('"msg":"listening"')) continue;
        child.stdout!.off('data', onData);
        resolve((JSON.parse(line) as { port: number }).port);
        return;
      }
    };
    child.stdout!.on('data', onData);
    exited.then(({ code }) => reject(new Error(`server exited (code ${code}) before listening:\n${err}\n${out}`)));
  });
  listening.catch(() => {});
  return { child, listening, exited, stdout: () => out, stderr: () => err, kill: (signal = 'SIGTERM') => child.kill(signal) };
}

/** The runbook's production environment, on an ephemeral port. */
export function productionEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: '0',
    JWT_SECRET: 'secret',
    DB_URI: 'mem',
    COOKIE_DOMAIN: '.localhost',
    CORS_ORIGIN: 'http://localhost:3000',
    WS_PATH: '/ws',
    METRICS_SECRET: 'metrics-secret-for-tests',
    ...overrides,
  };
}
