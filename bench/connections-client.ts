// The connection generator of bench/connections.ts, in its own process: 19000 client sockets need
// their own file-descriptor budget (connections.ts starts this process through prlimit with room for
// them), and the benchmark process must stay free to read the server's memory. Driven over the fork IPC channel:
//   parent → child  {cmd:'open', …OpenCommand} | {cmd:'close', concurrency}
//   child → parent  {ev:'opened', …} | {ev:'closed', …} | {ev:'error', message}

import { readFileSync } from 'node:fs';
import { signTestToken } from './lib/jwt.js';
import { openRawWs, type RawWs } from './lib/raw-ws.js';

export interface OpenCommand {
  cmd: 'open';
  count: number;
  host: string;
  port: number;
  path: string;
  /** Source addresses, used round-robin (127.0.0.2, 127.0.0.3, …). */
  addresses: string[];
  /** Upgrades in flight at once. */
  concurrency: number;
  secret: string;
  /** User ids are `${userPrefix}${i}`: one user per connection. */
  userPrefix: string;
  timeoutMs: number;
}

export interface OpenedEvent {
  ev: 'opened';
  open: number;
  failed: number;
  /** Failure messages with counts (first few kinds). */
  failures: Record<string, number>;
  /** Connections closed by the server before `ready` and opened again (once each). */
  retried: number;
  /** From the first connect to the last `ready`, excluding token signing. */
  connectMs: number;
  signMs: number;
  clientRssBytes: number;
  clientFdLimit: number;
}

export interface ClosedEvent {
  ev: 'closed';
  closeMs: number;
  /** Connections the server closed while they should have stayed open idle, by close code. */
  serverClosedEarly: Record<string, number>;
}

type Command = OpenCommand | { cmd: 'close'; concurrency: number };

const conns: RawWs[] = [];
const serverClosedEarly: Record<string, number> = {};
let closing = false;

function fdLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 0);
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` running. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

async function open(c: OpenCommand): Promise<OpenedEvent> {
  // connections.ts starts this process through prlimit with room for the run; if that was not
  // possible, say so now rather than as thousands of EMFILE failures.
  if (fdLimit() < conns.length + c.count + 64) {
    throw new Error(`open-files limit ${fdLimit()} is too low for ${c.count} connections, and prlimit could not raise it (above the hard limit it needs root with CAP_SYS_RESOURCE: raise the hard limit with ulimit -Hn before the run)`);
  }
  const s0 = performance.now();
  const tokens: string[] = [];
  for (let i = 0; i < c.count; i++) tokens.push(await signTestToken(`${c.userPrefix}${i}`, c.secret));
  const signMs = performance.now() - s0;
  const failures: Record<string, number> = {};
  let failed = 0;
  const t0 = performance.now();
  let retried = 0;
  await pool(c.count, c.concurrency, async (i) => {
    // uWS closes a few fresh sockets without a close frame before `ready` (bench/tools/early-close.ts):
    // one retry each, counted and reported; a second failure counts.
    for (let attempt = 0; ; attempt++) {
      try {
        conns.push(await openOne(c, tokens[i]!, i));
        return;
      } catch (e) {
        const key = e instanceof Error ? e.message : String(e);
        if (attempt === 0 && key === 'closed before ready') {
          retried++;
          continue;
        }
        failed++;
        failures[key] = (failures[key] ?? 0) + 1;
        return;
      }
    }
  });
  return {
    ev: 'opened',
    open: conns.length,
    failed,
    failures,
    retried,
    connectMs: performance.now() - t0,
    signMs,
    clientRssBytes: process.memoryUsage.rss(),
    clientFdLimit: fdLimit(),
  };
}

function openOne(c: OpenCommand, token: string, i: number): Promise<RawWs> {
  const early = (code: number | undefined) => {
    if (!closing) serverClosedEarly[String(code ?? 'no close frame')] = (serverClosedEarly[String(code ?? 'no close frame')] ?? 0) + 1;
  };
  return openRawWs({ host: c.host, port: c.port, path: c.path, localAddress: c.addresses[i % c.addresses.length], token, timeoutMs: c.timeoutMs }, early);
}

async function closeAll(concurrency: number): Promise<ClosedEvent> {
  closing = true;
  const t0 = performance.now();
  await pool(conns.length, concurrency, (i) => conns[i]!.close(5000));
  conns.length = 0;
  return { ev: 'closed', closeMs: performance.now() - t0, serverClosedEarly };
}

process.on('message', (m: Command) => {
  const reply = (p: Promise<OpenedEvent | ClosedEvent>) =>
    p.then(
      (ev) => process.send!(ev),
      (e: unknown) => process.send!({ ev: 'error', message: e instanceof Error ? e.message : String(e) }),
    );
  if (m.cmd === 'open') reply(open(m));
  else if (m.cmd === 'close') reply(closeAll(m.concurrency)).then(() => process.disconnect());
});
