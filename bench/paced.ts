// Paced load (issue 16): many users, each sending now and then. N senders (default 500) share a
// total rate (default 5000 and 20000 msgs/s, i.e. 10/s and 40/s each); ours is measured beside the
// bare uWS echo (and, with --peers centrifugo, beside Centrifugo) in the same run, under the same
// generator. Every row reports the generator's CPU per message beside the server's, so a reader can
// tell whether the figure is the server's or the generator's.
//
//   node --import tsx bench/paced.ts [--source] [--profile [dir]]
//     --pairs N (500)       senders (+N recipients for chat/centrifugo)
//     --window W (4)        in flight per sender (caps a sender when the server falls behind)
//     --rates a,b (5000,20000)  total paced rates, msgs/s
//     --seconds S (10)  --warmup S (3)
//     --gen lean|ws|go (go where Go is installed, else lean)  lean: bench/lib/lean-load.ts (raw sockets, one write per socket per tick);
//                           ws: bench/lib/ws-load.ts (the `ws` package, what ws-send.ts uses);
//                           go: bench/lib/go-load.ts (lean-load.ts in Go, bench/go/leangen: needs Go,
//                           built once into the cache; its CPU is counted as the generator's)
//                           Centrifugo gets lean, or go with --gen go.
//     --subjects a,b        only the servers whose label starts with one of these (ours, uws, centrifugo)
//     --peers centrifugo    add Centrifugo (built once into the cache, see bench/lib/centrifugo.ts)
//     --syscalls            count the server's syscalls per message with `perf stat` (Linux perf, tracepoints)
//     --idle C (5000)       then C idle connections per server: RSS per connection (0: skip)
//     --ack-delay MS        also ours with held acks (v1.3, `?ackDelayMs=MS`), labelled `ours held MSms`
//     --batch               also ours with batched frames (v1.4, `?batch=1`), and with --ack-delay with
//                           both, labelled `… batch`
//     --rounds K (1)        every subject K times, interleaved (A, B, A, B, …): on a noisy machine the
//                           figures come from each subject's median round by server CPU, and a note
//                           lists every round's (idle memory: first round only)
//     --store mongo         ours on the MongoStore at BENCH_MONGO_URI (else TEST_MONGO_URI, else
//                           127.0.0.1:27017), a fresh database per start, dropped at the end; the
//                           batch settings as the server's (DB_BATCH_MAX_WAIT_MS etc. in BENCH_OURS_ENV)
//     --mongo-proxy-ms D    with --store mongo: through bench/lib/latency-proxy.ts (its own process),
//                           D ms each way (0.5: MongoDB across a network in one region)
//
// Smoke (--smoke): 20 pairs at 200/s for 1 s, ours and echo; fails only on lost/duplicated messages.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { scrapeMetrics } from './lib/metrics-scrape.js';
import { benchMain, isMain, type BenchContext } from './lib/cli.js';
import { fmt, loadProblems, newResult, type BenchResult, type Figure } from './lib/report.js';
import { BENCH_JWT_SECRET, startBaseline, startOurServer, stopServer } from './lib/servers.js';
import type { RunningServer } from './lib/spawn.js';
import { hasGoToolchain } from './lib/go-load.js';
import { openBenchStore } from './lib/mongo.js';
import { runWsLoad, type LoadReport } from './lib/ws-load.js';

export interface PacedParams {
  pairs: number;
  window: number;
  rates: number[];
  seconds: number;
  warmupSec: number;
  gen: 'lean' | 'ws' | 'go';
  idle: number;
  rounds: number;
}

export function pacedParams(ctx: BenchContext): PacedParams {
  const a = ctx.args;
  const smoke = ctx.smoke;
  // The Go generator costs about 0.6× the server per message, lean about 1×: it is the default where
  // Go is installed (CI has it), so the figure is the server's; lean elsewhere.
  const gen = a.str('gen') ?? (hasGoToolchain() ? 'go' : 'lean');
  if (gen !== 'lean' && gen !== 'ws' && gen !== 'go') throw new Error(`--gen must be lean, ws or go, got ${gen}`);
  return {
    pairs: a.num('pairs', smoke ? 20 : 500),
    window: a.num('window', 4),
    rates: (a.str('rates') ?? (smoke ? '200' : '5000,20000')).split(',').map(Number),
    seconds: a.num('seconds', smoke ? 1 : 10),
    warmupSec: a.num('warmup', smoke ? 0.5 : 3),
    gen,
    idle: a.num('idle', smoke ? 100 : 5000),
    rounds: Math.max(1, Math.floor(a.num('rounds', 1))),
  };
}

type Kind = 'chat' | 'echo' | 'centrifugo';

interface Subject {
  label: string;
  kind: Kind;
  start(): Promise<RunningServer>;
  url(port: number): string;
}

export interface PacedRun {
  subject: string;
  kind: Kind;
  rate: number;
  report: LoadReport;
  /** The server main thread's wake-ups per message (connects and drain included: an upper bound). */
  wakeupsPerMsg: number;
  /** 1, 2, …: which of --rounds this run was. */
  round: number;
}

const SYSCALLS = ['sendto', 'sendmsg', 'write', 'writev', 'recvfrom', 'recvmsg', 'read', 'epoll_wait', 'epoll_pwait'];

/** `perf stat` on the server's syscalls from now until the returned function is called. */
function countSyscalls(pid: number): () => Promise<Record<string, number>> {
  const events = SYSCALLS.map((s) => `syscalls:sys_enter_${s}`).join(',');
  const perf = spawn('perf', ['stat', '-x', ',', '-e', events, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  perf.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return () =>
    new Promise((resolve) => {
      perf.once('close', () => {
        const out: Record<string, number> = {};
        for (const line of err.split('\n')) {
          const [count, , event] = line.split(',');
          const m = /sys_enter_(\w+)/.exec(event ?? '');
          if (m && Number.isFinite(Number(count))) out[m[1]!] = Number(count);
        }
        resolve(out);
      });
      perf.kill('SIGINT');
    });
}

/**
 * Our server's counters around a window: chat_frames_in_total / chat_frames_out_total by type, as
 * `in:send`, `out:ack_sent`, …, and prom-client's GC pauses by kind, as `gc:major` (count) and
 * `gc:major:s` (seconds in all).
 */
async function serverCounters(port: number): Promise<{ frames: Record<string, number>; gc: Record<string, number> }> {
  const frames: Record<string, number> = {};
  const gc: Record<string, number> = {};
  try {
    for (const [k, v] of await scrapeMetrics(port)) {
      const m = /^chat_frames_(in|out)_total\{type="([^"]+)"\}$/.exec(k);
      if (m) frames[`${m[1]}:${m[2]}`] = v;
      const g = /^nodejs_gc_duration_seconds_(count|sum)\{kind="([^"]+)"\}$/.exec(k);
      if (g) gc[g[1] === 'count' ? `gc:${g[2]}` : `gc:${g[2]}:s`] = v;
    }
  } catch {
    /* metrics off: no note */
  }
  return { frames, gc };
}

/** What the GC did between two readings: pauses by kind, their number and their sum (the p99 at load waits these out). */
function gcNote(before: Record<string, number>, after: Record<string, number>): string {
  return ['major', 'minor', 'incremental']
    .filter((kind) => after[`gc:${kind}`] !== undefined)
    .map((kind) => `${kind} ${after[`gc:${kind}`]! - (before[`gc:${kind}`] ?? 0)} (${Math.round(((after[`gc:${kind}:s`] ?? 0) - (before[`gc:${kind}:s`] ?? 0)) * 1000)} ms)`)
    .join(', ');
}

/**
 * Voluntary context switches of the server's main thread: each is one sleep in epoll_wait, so their
 * count is the number of event-loop wake-ups (uWS and libuv share the loop). Messages per wake-up is
 * how much batching the load shape allows.
 */
function wakeups(pid: number): number {
  try {
    return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Where ours keeps its messages: `mem`, or a fresh MongoDB database per start (--store mongo). */
type StoreUri = () => string;

function subjects(ctx: BenchContext, storeUri: StoreUri): Subject[] {
  const ackDelay = ctx.args.str('ack-delay');
  if (ackDelay !== undefined && !/^\d+$/.test(ackDelay)) throw new Error(`--ack-delay must be whole ms, got ${ackDelay}`);
  // Each build plain, with --ack-delay also with v1.3 held acks (?ackDelayMs=, ACK_DELAY_MAX_MS default
  // 1000), and with --batch each of those also with v1.4 batched frames (?batch=1).
  const held = [{ suffix: '', params: [] as string[] }, ...(ackDelay === undefined ? [] : [{ suffix: ` held ${ackDelay}ms`, params: [`ackDelayMs=${ackDelay}`] }])];
  const variants = [...held, ...(ctx.args.has('batch') ? held.map((v) => ({ suffix: `${v.suffix} batch`, params: [...v.params, 'batch=1'] })) : [])].map(({ suffix, params }) => ({
    suffix,
    query: params.length ? `?${params.join('&')}` : '',
  }));
  const out: Subject[] = [
    ...variants.flatMap(({ suffix, query }) =>
      ctx.ours.map<Subject>((build) => ({
        label: `${build.label}${suffix}`,
        kind: 'chat',
        start: () => startOurServer(build, { cpuProfDir: ctx.profileDir, dbUri: storeUri() }),
        url: (port) => `ws://127.0.0.1:${port}/ws${query}`,
      })),
    ),
    { label: 'uws echo', kind: 'echo', start: () => startBaseline('uws-echo', { cpuProfDir: ctx.profileDir }), url: (port) => `ws://127.0.0.1:${port}/ws` },
  ];
  const peers = (ctx.args.str('peers') ?? '').split(',').filter(Boolean);
  for (const peer of peers) {
    if (peer !== 'centrifugo') throw new Error(`--peers: unknown peer "${peer}" (known: centrifugo)`);
    out.push({ label: 'centrifugo', kind: 'centrifugo', start: async () => (await import('./lib/centrifugo.js')).startCentrifugo(), url: (port) => `ws://127.0.0.1:${port}/connection/websocket` });
  }
  return out;
}

// Imported when used: the ws generator and ours run without the lean generator or Centrifugo's module.
async function load(kind: Kind, url: string, p: PacedParams, durationMs: number, ratePerSec: number, serverPid: number): Promise<LoadReport> {
  const common = { url, pairs: p.pairs, window: p.window, durationMs, ratePerSec, serverPid, drainMs: 15_000, connectTimeoutMs: 60_000 };
  if (kind !== 'centrifugo' && p.gen === 'ws') return runWsLoad({ ...common, mode: kind, secret: BENCH_JWT_SECRET, connectRetries: 1 });
  // The same options either way: go-load.ts is lean-load.ts in Go.
  const run = p.gen === 'go' ? (await import('./lib/go-load.js')).runGoLoad : (await import('./lib/lean-load.js')).runLeanLoad;
  if (kind === 'centrifugo') {
    const { centrifugoToken } = await import('./lib/centrifugo.js');
    return run({ ...common, mode: 'centrifugo', tokenFor: centrifugoToken });
  }
  return run({ ...common, mode: kind, secret: BENCH_JWT_SECRET });
}

export async function runPaced(ctx: BenchContext): Promise<BenchResult> {
  const store = await openBenchStore(ctx.args, 'bench_paced');
  try {
    return await runPacedOn(ctx, store.uri, store.note);
  } finally {
    await store.close();
  }
}

async function runPacedOn(ctx: BenchContext, storeUri: StoreUri, storeNote: string): Promise<BenchResult> {
  const p = pacedParams(ctx);
  const result = newResult(
    'paced',
    'Paced load: many users each sending now and then; server and generator CPU per message',
    `N=${p.pairs} senders, rates ${p.rates.join(', ')} msgs/s total (${p.rates.map((r) => fmt(r / p.pairs)).join(', ')}/s each), W=${p.window}, ` +
      `${p.seconds} s windows after ${p.warmupSec} s warm-up, generator: ${p.gen}${ctx.args.str('peers') ? ` (centrifugo: ${p.gen === 'go' ? 'go' : 'lean'})` : ''}${storeNote}`,
  );
  // Not --only: bench/run.ts uses that flag to pick benchmarks.
  const only = ctx.args.str('subjects');
  const chosen = subjects(ctx, storeUri).filter((s) => only === undefined || only.split(',').some((o) => s.label.startsWith(o)));
  const runs: PacedRun[] = [];
  const idle: { subject: string; connections: number; bytesPerConnection: number }[] = [];
  for (let round = 1; round <= p.rounds; round++) for (const s of chosen) {
    ctx.log(`paced: ${s.label}${p.rounds > 1 ? ` (round ${round} of ${p.rounds})` : ''}`);
    const server = await s.start();
    try {
      const url = s.url(server.port);
      const warm = await load(s.kind, url, p, p.warmupSec * 1000, p.rates[0]!, server.pid);
      result.problems.push(...loadProblems(`${s.label} warm-up`, warm));
      for (const rate of p.rates) {
        const w0 = wakeups(server.pid);
        const stopCounting = ctx.args.has('syscalls') ? countSyscalls(server.pid) : undefined;
        const m0 = s.kind === 'chat' ? await serverCounters(server.port) : undefined;
        const r = await load(s.kind, url, p, p.seconds * 1000, rate, server.pid);
        const w1 = wakeups(server.pid);
        const counts = stopCounting ? await stopCounting() : undefined;
        if (m0) {
          // Our own counters: how many frames a cycle really is (v1.1 adds receipts).
          const m1 = await serverCounters(server.port);
          const per = Object.entries(m1.frames)
            .map(([k, v]) => [k, (v - (m0.frames[k] ?? 0)) / Math.max(1, r.acked)] as const)
            .filter(([, v]) => v >= 0.005)
            .map(([k, v]) => `${k} ${v.toFixed(2)}`);
          result.notes.push(`${s.label} ${rate}/s: frames per message (chat_frames_in/out_total, connects and drain included): ${per.join(', ')}`);
          const gc = gcNote(m0.gc, m1.gc);
          if (gc) result.notes.push(`${s.label}${p.rounds > 1 ? ` #${round}` : ''} ${rate}/s: GC pauses in the window (nodejs_gc_duration_seconds, connects and drain included): ${gc}`);
        }
        if (counts) {
          const per = (n: number | undefined) => ((n ?? 0) / Math.max(1, r.acked)).toFixed(2);
          const writes = (counts.sendto ?? 0) + (counts.sendmsg ?? 0) + (counts.write ?? 0) + (counts.writev ?? 0);
          const reads = (counts.recvfrom ?? 0) + (counts.recvmsg ?? 0) + (counts.read ?? 0);
          const polls = (counts.epoll_wait ?? 0) + (counts.epoll_pwait ?? 0);
          result.notes.push(`${s.label} ${rate}/s: server syscalls per message (perf stat, connects and drain included): writes ${per(writes)}, reads ${per(reads)}, epoll waits ${per(polls)} (${Object.entries(counts).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')}; ${r.acked} messages)`);
        }
        result.problems.push(...loadProblems(`${s.label} paced ${rate}/s`, r));
        if (r.connectRetries) result.notes.push(`${s.label} ${rate}/s: ${r.connectRetries} connections retried before ready`);
        runs.push({ subject: s.label, kind: s.kind, rate, report: r, wakeupsPerMsg: Math.round(((w1 - w0) / Math.max(1, r.acked)) * 100) / 100, round });
      }
      if (p.idle > 0 && s.kind !== 'echo' && round === 1) {
        const { idleMemory } = await import('./lib/lean-load.js');
        const { centrifugoToken } = await import('./lib/centrifugo.js');
        const m = await idleMemory({ url, mode: s.kind, pairs: Math.ceil(p.idle / 2), serverPid: server.pid, tokenFor: centrifugoToken });
        idle.push({ subject: s.label, ...m });
      }
    } finally {
      await stopServer(server, ctx.profileDir !== undefined);
    }
  }
  // Go's scheduler parks threads in many places: its main thread's switches are not its wake-ups.
  const s0 = (subject: string) => subject === 'centrifugo';
  const genPerMsg = (r: LoadReport) => (r.acked > 0 ? Math.round((r.generator.cpuUs / r.acked) * 10) / 10 : NaN);
  result.details.push({
    headers: ['server', 'rate', 'msgs/s', 'server CPU µs/msg', 'generator CPU µs/msg', 'server core %', 'generator core %', 'other core %', 'server wake-ups per msg', 'ack p50 / p90 / p99 / max ms', 'delivery p50 / p99 ms', 'behind schedule ms'],
    rows: runs.map(({ subject, rate, report: r, wakeupsPerMsg, round }) => [
      p.rounds > 1 ? `${subject} #${round}` : subject,
      fmt(rate),
      fmt(r.msgsPerSec),
      fmt(r.server?.cpuUsPerMsg),
      fmt(genPerMsg(r)),
      fmt(r.server?.corePct),
      fmt(r.generator.corePct),
      fmt(r.machine.otherCorePct),
      s0(subject) ? '—' : fmt(wakeupsPerMsg),
      `${r.ack.p50Ms} / ${r.ack.p90Ms} / ${r.ack.p99Ms} / ${r.ack.maxMs}`,
      r.delivered ? `${r.delivered.p50Ms} / ${r.delivered.p99Ms}` : '—',
      fmt(r.backlogMaxMs),
    ]),
  });
  const figureRuns = p.rounds > 1 ? medianRounds(runs, result.notes) : runs;
  result.figures.push(...pacedFigures(figureRuns, ctx.ours[0]!.label));
  const oursIdle = idle.find((x) => x.subject === ctx.ours[0]!.label);
  const cfIdle = idle.find((x) => x.subject === 'centrifugo');
  if (oursIdle) {
    result.figures.push({
      name: `idle connections (${fmt(oursIdle.connections)}, after the paced runs): server RSS growth per connection`,
      value: Math.round((oursIdle.bytesPerConnection / 1024) * 100) / 100,
      unit: 'KB/conn',
      ...(cfIdle ? { baseline: { name: 'centrifugo', value: Math.round((cfIdle.bytesPerConnection / 1024) * 100) / 100 } } : {}),
    });
  }
  result.notes.push(
    'A message: ours = full chat cycle (send, SENT ack, message, delivered, DELIVERED ack: 5 frames); echo = one frame echoed (2 frames); centrifugo = publish into the recipient\'s personal channel, publish reply, push to the subscribed recipient (3 frames).',
    'Idle memory: RSS growth of the server with C more idle connections (the paced runs\' peak already in its heap), connected by the lean generator from 16 source addresses; ours: authenticated, `ready`; centrifugo: connected with a JWT, subscribed server-side to its personal channel.',
    'Server wake-ups: voluntary context switches of the server\'s main thread (each one sleep in epoll_wait) per message, connects and drain included.',
    'Ack latency: ours send→SENT, echo round trip, centrifugo publish→reply. Delivery: ours send→DELIVERED, centrifugo publish→push received.',
  );
  result.raw = { params: p, runs, idle };
  return result;
}

/**
 * Each subject's median round at each rate, by server CPU per message (the upper middle of an even
 * count), for the figures; every round's CPU goes into a note, so the spread is on record too.
 */
function medianRounds(runs: PacedRun[], notes: string[]): PacedRun[] {
  const groups = new Map<string, PacedRun[]>();
  for (const run of runs) {
    const key = `${run.subject}\n${run.rate}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(run);
  }
  const medians: PacedRun[] = [];
  for (const group of groups.values()) {
    const sorted = [...group].sort((a, b) => (a.report.server?.cpuUsPerMsg ?? Infinity) - (b.report.server?.cpuUsPerMsg ?? Infinity));
    const median = sorted[Math.floor(sorted.length / 2)]!;
    medians.push(median);
    const byRound = group.map((r) => fmt(r.report.server?.cpuUsPerMsg)).join(', ');
    notes.push(`${median.subject} ${median.rate}/s: server CPU µs/msg by round ${byRound}; figures from round ${median.round} (median)`);
  }
  return medians;
}

function pacedFigures(runs: PacedRun[], main: string): Figure[] {
  const out: Figure[] = [];
  const at = (subject: string, rate: number) => runs.find((r) => r.subject === subject && r.rate === rate)?.report;
  for (const rate of [...new Set(runs.map((r) => r.rate))]) {
    const ours = at(main, rate);
    if (!ours?.server) continue;
    const name = `WS chat cycle, paced ${fmt(rate)}/s: server CPU`;
    const echo = at('uws echo', rate);
    if (echo?.server) out.push({ name, value: ours.server.cpuUsPerMsg, unit: 'µs/msg', baseline: { name: 'uws echo', value: echo.server.cpuUsPerMsg }, target: { text: '≤ 3× echo', met: ours.server.cpuUsPerMsg <= 3 * echo.server.cpuUsPerMsg }, otherCorePct: ours.machine.otherCorePct });
    const cf = at('centrifugo', rate);
    if (cf?.server) out.push({ name, value: ours.server.cpuUsPerMsg, unit: 'µs/msg', baseline: { name: 'centrifugo publish+deliver', value: cf.server.cpuUsPerMsg }, target: { text: '≤ 0.7× centrifugo', met: ours.server.cpuUsPerMsg <= 0.7 * cf.server.cpuUsPerMsg }, otherCorePct: ours.machine.otherCorePct });
    const limit = rate <= 5000 ? 3 : 10;
    const reached = ours.msgsPerSec >= 0.97 * rate;
    out.push({ name: `SENT-ack p99 at ${fmt(rate)}/s${reached ? '' : ` (only ${fmt(ours.msgsPerSec)} reached)`}`, value: ours.ack.p99Ms, unit: 'ms', target: { text: `≤ ${limit} ms`, met: reached && ours.ack.p99Ms <= limit }, otherCorePct: ours.machine.otherCorePct });
    const gen = ours.acked > 0 ? ours.generator.cpuUs / ours.acked : NaN;
    out.push({ name: `paced ${fmt(rate)}/s: generator CPU per message (must be below the server's)`, value: Math.round(gen * 10) / 10, unit: 'µs/msg', baseline: { name: 'ours server', value: ours.server.cpuUsPerMsg }, target: { text: '< server', met: gen < ours.server.cpuUsPerMsg }, otherCorePct: ours.machine.otherCorePct });
  }
  return out;
}

if (isMain(import.meta.url)) await benchMain('paced', async (ctx) => [await runPaced(ctx)]);
