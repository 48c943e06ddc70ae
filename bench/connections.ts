// Idle authenticated connections: open C WebSockets (default 19000), one user each, each waiting for
// its `ready`; report the server's RSS per connection and the connect rate; close them all and report
// how much memory comes back. The same run against the in-memory chat floor (bare uWS + JWT check)
// is the baseline.
//
//   node --import tsx bench/connections.ts [--smoke] [--compare <ref>]
//     --connections C (19000)  --per-address N (950)  --concurrency K (256)  --settle S (2)
//
// The clients live in a child process (bench/connections-client.ts) with its own open-files limit;
// both it and the server are started through prlimit with room for C sockets (lib/spawn.ts
// withNofile), so the shell's soft `ulimit -n` does not matter; above the hard limit that takes root
// with CAP_SYS_RESOURCE, and without it the run stops with the limit it found.
// they are spread over source addresses 127.0.0.2, 127.0.0.3, … (N each): that keeps every address
// under the server's MAX_CONNECTIONS_PER_IP default (1000) and far from ephemeral-port exhaustion.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClosedEvent, OpenCommand, OpenedEvent } from './connections-client.js';
import { benchMain, isMain, type BenchContext } from './lib/cli.js';
import { scrapeMetrics, waitForMetrics, type MetricSamples } from './lib/metrics-scrape.js';
import { cpuDelta, readMachineCpu, readProcCpu, readProcMem, selfCpu } from './lib/proc-cpu.js';
import { fmt, newResult, type BenchResult } from './lib/report.js';
import { BENCH_JWT_SECRET, fdLimit, startBaseline, stopServer } from './lib/servers.js';
import { Inspector, startOurServerInspected } from './lib/inspector.js';
import { withNofile, type RunningServer } from './lib/spawn.js';
import { runTag } from './lib/bodies.js';

const KB = 1024;
/** Open files beyond the connections: listening socket, pipes, log, libuv and V8 internals. */
const FD_MARGIN = 1024;
const nofileFor = (connections: number) => connections + FD_MARGIN;

/** One open-all / close-all round. */
interface Cycle {
  opened: OpenedEvent;
  closed: ClosedEvent;
  rssOpen: number;
  rssClosed: number;
  /** V8 heap used (ours only, from /metrics). */
  heapOpen?: number;
  heapClosed?: number;
  connectCpuUs: number;
  otherCorePct: number;
}

interface Measured {
  subject: string;
  connections: number;
  rss0: number;
  heap0?: number;
  /** The second cycle shows whether the first one's memory was released and reused. */
  cycles: Cycle[];
  serverFdLimit: number;
}

class ClientProcess {
  private readonly child: ChildProcess;
  private waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined;

  constructor(nofile: number) {
    // fork runs `execPath ...execArgv module`: prlimit in front of node raises the child's limit.
    const cmd = withNofile(nofile, process.execPath, ['--import', 'tsx']);
    this.child = fork(fileURLToPath(new URL('./connections-client.ts', import.meta.url)), [], {
      execPath: cmd.command,
      execArgv: cmd.args,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: { ev: string; message?: string }) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (m.ev === 'error') w?.reject(new Error(`connection client: ${m.message}`));
      else w?.resolve(m);
    });
    this.child.on('exit', (code) => this.waiting?.reject(new Error(`connection client exited (code ${code})`)));
  }

  private ask<T>(msg: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting = { resolve: resolve as (v: unknown) => void, reject };
      this.child.send(msg as object);
    });
  }

  open(c: Omit<OpenCommand, 'cmd'>): Promise<OpenedEvent> {
    return this.ask<OpenedEvent>({ cmd: 'open', ...c });
  }

  close(concurrency: number): Promise<ClosedEvent> {
    return this.ask<ClosedEvent>({ cmd: 'close', concurrency });
  }

  get pid(): number {
    return this.child.pid!;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const heapUsed = (m: MetricSamples | undefined) => m?.get('nodejs_heap_size_used_bytes');
const openGauge = (m: MetricSamples) => m.get('chat_connections_open') ?? -1;

async function measure(
  ctx: BenchContext,
  subject: string,
  server: RunningServer,
  hasMetrics: boolean,
  /** Ours: a full GC is forced before each reading, else the heap figure races the collector. */
  inspector: Inspector | undefined,
  o: { connections: number; perAddress: number; concurrency: number; settleMs: number; cycles: number },
): Promise<Measured> {
  const limit = fdLimit(server.pid);
  if (limit < o.connections + 64) {
    throw new Error(`the server's open-files limit is ${limit}: too low for ${o.connections} connections, and prlimit could not raise it (above the hard limit it needs root with CAP_SYS_RESOURCE: raise the hard limit with ulimit -Hn before the run)`);
  }
  const addressCount = Math.ceil(o.connections / o.perAddress);
  if (addressCount > 250) throw new Error(`${addressCount} source addresses needed; raise --per-address`);
  const addresses = Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 2}`);
  const base = { host: '127.0.0.1', port: server.port, path: '/ws', addresses, concurrency: o.concurrency, secret: BENCH_JWT_SECRET, timeoutMs: 30_000 };
  const settle = async (want: number) => {
    if (hasMetrics) {
      const r = await waitForMetrics(server.port, (m) => openGauge(m) === want, 15_000);
      if (!r.ok) throw new Error(`${subject}: chat_connections_open stayed at ${openGauge(r.metrics)}, expected ${want}`);
    }
    await sleep(o.settleMs);
    // Read after a forced full GC: without it a reading catches whatever the collector had not yet
    // run on, and "memory comes back" swung between −0.6 and +3 KB per connection (RESULTS.md).
    await inspector?.gc();
    return hasMetrics ? await scrapeMetrics(server.port) : undefined;
  };

  // Warm-up: the code paths and the allocator's first arenas are not what we want to count.
  const warm = new ClientProcess(nofileFor(o.connections));
  try {
    const n = Math.min(500, o.connections);
    const w = await warm.open({ ...base, count: n, userPrefix: `bench-conn-warm-${runTag()}-` });
    if (w.failed) throw new Error(`${subject}: warm-up connections failed: ${JSON.stringify(w.failures)}`);
    await warm.close(o.concurrency);
  } finally {
    warm.kill();
  }

  const m0 = await settle(0);
  const rss0 = readProcMem(server.pid).rssBytes;
  const cycles: Cycle[] = [];
  // Every cycle reconnects the same users: the second one then shows what a closed connection leaves
  // behind. New users would each add their (memory) store's device entry and a JWT cache entry up to
  // its cap, which is store state, not memory that failed to come back (RESULTS.md, issue 16).
  const userPrefix = `bench-conn-${runTag()}-`;
  for (let cycle = 1; cycle <= o.cycles; cycle++) {
    const client = new ClientProcess(nofileFor(o.connections));
    try {
      ctx.log(`connections: ${subject}: cycle ${cycle}: opening ${o.connections} from ${addressCount} addresses`);
      const cpu0 = readProcCpu(server.pid);
      const client0 = readProcCpu(client.pid);
      const self0 = selfCpu();
      const machine0 = readMachineCpu().busyUs;
      const t0 = performance.now();
      const opened = await client.open({ ...base, count: o.connections, userPrefix });
      const wallMs = performance.now() - t0;
      const connectCpuUs = cpuDelta(cpu0, readProcCpu(server.pid)).totalUs;
      const generatorUs = cpuDelta(client0, readProcCpu(client.pid)).totalUs + cpuDelta(self0, selfCpu()).totalUs;
      const machineUs = readMachineCpu().busyUs - machine0;
      const otherCorePct = Math.max(0, ((machineUs - connectCpuUs - generatorUs) / 1000 / wallMs) * 100);
      const m1 = await settle(opened.open);
      const rssOpen = readProcMem(server.pid).rssBytes;
      ctx.log(`connections: ${subject}: cycle ${cycle}: closing`);
      const closed = await client.close(o.concurrency);
      const m2 = await settle(0);
      const rssClosed = readProcMem(server.pid).rssBytes;
      cycles.push({ opened, closed, rssOpen, rssClosed, heapOpen: heapUsed(m1), heapClosed: heapUsed(m2), connectCpuUs, otherCorePct });
    } finally {
      client.kill();
    }
  }
  return { subject, connections: o.connections, rss0, heap0: heapUsed(m0), cycles, serverFdLimit: limit };
}

export async function runConnections(ctx: BenchContext): Promise<BenchResult> {
  const a = ctx.args;
  const o = {
    connections: a.num('connections', ctx.smoke ? 200 : 19_000),
    perAddress: a.num('per-address', ctx.smoke ? 100 : 950),
    concurrency: a.num('concurrency', ctx.smoke ? 32 : 256),
    settleMs: a.num('settle', ctx.smoke ? 0.2 : 2) * 1000,
  };
  const result = newResult(
    'connections',
    'Idle authenticated WebSocket connections: memory per connection, connect rate, memory after closing',
    `${o.connections} connections (one user each, JWT in the Authorization header, each waits for \`ready\`), ` +
      `${Math.ceil(o.connections / o.perAddress)} source addresses × ≤${o.perAddress}, ${o.concurrency} upgrades in flight, ` +
      `${o.settleMs / 1000} s settle before each memory reading; raw-socket clients in a separate process`,
  );
  const runs: Measured[] = [];
  const subjects: { label: string; metrics: boolean; cycles: number; start: () => Promise<{ server: RunningServer; inspector?: Inspector }> }[] = [
    { label: 'chat floor (bare uWS + JWT)', metrics: false, cycles: 1, start: async () => ({ server: await startBaseline('uws-chat-memory', { nofile: nofileFor(o.connections) }) }) },
    // Three cycles: the allocator keeps native memory up to a high-water mark that the first two
    // cycles still raise (RESULTS.md, issue 16); a leak shows as growth between the last two.
    ...ctx.ours.map((b) => ({ label: b.label, metrics: true, cycles: ctx.smoke ? 2 : 3, start: () => startOurServerInspected(b, { cpuProfDir: ctx.profileDir, nofile: nofileFor(o.connections) }) })),
  ];
  for (const s of subjects) {
    ctx.log(`connections: ${s.label}`);
    const { server, inspector } = await s.start();
    try {
      const m = await measure(ctx, s.label, server, s.metrics, inspector, { ...o, cycles: s.cycles });
      runs.push(m);
      for (const [i, c] of m.cycles.entries()) {
        if (c.opened.failed) result.problems.push(`${s.label} cycle ${i + 1}: ${c.opened.failed} connections failed: ${JSON.stringify(c.opened.failures)}`);
        if (c.opened.retried) result.notes.push(`${s.label} cycle ${i + 1}: ${c.opened.retried} fresh connections were closed by the server (no close frame) before \`ready\` and retried once (see bench/tools/early-close.ts)`);
        if (Object.keys(c.closed.serverClosedEarly).length) result.problems.push(`${s.label} cycle ${i + 1}: the server closed idle connections: ${JSON.stringify(c.closed.serverClosedEarly)}`);
      }
    } finally {
      inspector?.close();
      await stopServer(server, ctx.profileDir !== undefined);
    }
  }

  const perConn = (m: Measured, bytes: number) => bytes / m.connections / KB;
  const mib = (b: number | undefined) => (b === undefined ? '—' : fmt(b / 2 ** 20));
  const rate = (c: Cycle) => (c.opened.open / c.opened.connectMs) * 1000;
  result.details.push({
    headers: ['server', 'cycle', 'open', 'connect rate /s', 'server CPU µs/connect', 'other core %', 'RSS open / closed MiB', 'RSS per conn KB', 'heap open / closed MiB', 'heap per conn KB', 'close time s', 'client RSS MiB'],
    rows: runs.flatMap((m) =>
      m.cycles.map((c, i) => [
        m.subject,
        i + 1,
        c.opened.open,
        fmt(rate(c)),
        fmt(c.connectCpuUs / Math.max(1, c.opened.open)),
        fmt(c.otherCorePct),
        `${mib(c.rssOpen)} / ${mib(c.rssClosed)}`,
        fmt(perConn(m, c.rssOpen - m.rss0)),
        c.heapOpen === undefined ? '—' : `${mib(c.heapOpen)} / ${mib(c.heapClosed)}`,
        c.heapOpen === undefined ? '—' : fmt(perConn(m, c.heapOpen - m.heap0!)),
        fmt(c.closed.closeMs / 1000),
        mib(c.opened.clientRssBytes),
      ]),
    ),
  });
  result.details.push({
    headers: ['server', 'RSS before MiB', 'heap before MiB', 'open-files limit server / client'],
    rows: runs.map((m) => [m.subject, mib(m.rss0), mib(m.heap0), `${m.serverFdLimit} / ${m.cycles[0]?.opened.clientFdLimit ?? '—'}`]),
  });

  const main = runs.find((r) => r.subject === ctx.ours[0]!.label);
  const floor = runs.find((r) => r.subject.startsWith('chat floor'));
  const first = (m: Measured) => m.cycles[0]!;
  if (main) {
    const c1 = first(main);
    const full = main.connections >= 19_000;
    const rssPer = perConn(main, c1.rssOpen - main.rss0);
    result.figures.push({
      name: `idle connections (${main.connections}): server RSS per connection`,
      value: rssPer,
      unit: 'KB/conn',
      baseline: floor && { name: 'chat floor', value: perConn(floor, first(floor).rssOpen - floor.rss0) },
      target: full ? { text: '≤ 3 KB at 19000', met: rssPer <= 3 } : undefined,
      otherCorePct: c1.otherCorePct,
    });
    result.figures.push({ name: 'connect rate (upgrade + JWT + replay + ready)', value: rate(c1), unit: 'conn/s', baseline: floor && { name: 'chat floor', value: rate(first(floor)) }, otherCorePct: c1.otherCorePct });
    result.figures.push({ name: 'connect: server CPU', value: c1.connectCpuUs / c1.opened.open, unit: 'µs/conn', baseline: floor && { name: 'chat floor', value: first(floor).connectCpuUs / first(floor).opened.open }, otherCorePct: c1.otherCorePct });
    const n = main.cycles.length;
    const last = main.cycles[n - 1];
    const prev = main.cycles[n - 2];
    if (last && prev) {
      // Reuse is the test that memory came back: the last cycle must fit in what the one before freed.
      const grew = perConn(main, last.rssOpen - prev.rssOpen);
      const nth = (k: number) => ['1st', '2nd', '3rd'][k - 1] ?? `${k}th`;
      result.figures.push({
        name: `memory comes back: ${nth(n)} open-all after close-all, RSS growth over the ${nth(n - 1)}`,
        value: grew,
        unit: 'KB/conn',
        target: full ? { text: 'memory comes back (≤ 0.3 KB/conn)', met: grew <= 0.3 } : undefined,
      });
      if (prev.heapOpen !== undefined && last.heapOpen !== undefined) {
        result.figures.push({ name: `memory comes back: ${nth(n)} open-all, V8 heap growth over the ${nth(n - 1)}`, value: perConn(main, last.heapOpen - prev.heapOpen), unit: 'KB/conn' });
      }
    }
    for (const b of ctx.ours.slice(1)) {
      const r = runs.find((x) => x.subject === b.label);
      if (r) result.figures.push({ name: `server RSS per connection, ${main.subject} vs ${b.label}`, value: rssPer, unit: 'KB/conn', baseline: { name: b.label, value: perConn(r, first(r).rssOpen - r.rss0) } });
    }
  }
  result.notes.push(
    'RSS per connection = (server RSS with all connections open, after settling) − (RSS before: after a 500-connection warm-up, closed), divided by the count: uWS per-socket memory, the JS connection objects, router entries, expiry timers (kernel socket buffers are not in RSS).',
    'Memory after closing: RSS rarely shrinks (the allocator and V8 keep freed pages), so the test is another open-all/close-all cycle: if the previous cycle\'s memory was released, the next reuses it and RSS grows by ~0.',
    'Ours runs with the inspector (--inspect on loopback), through which a full GC is forced (twice) before every reading, RSS and heap alike: the readings do not race the collector.',
  );
  result.raw = { options: o, runs };
  return result;
}

if (isMain(import.meta.url)) await benchMain('connections', async (ctx) => [await runConnections(ctx)]);
