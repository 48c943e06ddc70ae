// WebSocket send path: the full chat cycle (send → SENT ack → message to the recipient → `delivered`
// → DELIVERED ack) on our server, beside the bare uWS echo, the Socket.IO emit+ack and the same
// protocol on bare uWS in memory ("chat floor"), all under the same load from the same generator.
//
//   node --import tsx bench/ws-send.ts [--smoke] [--compare <ref>] [--profile]
//     --pairs N (64)  --window W (4)  --seconds S (5)  --warmup S (2)
//     --rate R (5000)       paced rate at which every server's CPU per message is compared
//     --latency-rates a,b   paced rates for ours' SENT-ack latency (default 20000,half: half the closed-loop max)
//     --only a,b            only the servers whose label starts with one of these (ours, uws, socket, chat)
//     --repeat R (1)        run the whole server sequence R times, interleaved; figures use the median
//
// Per server: a closed-loop window (W in flight per sender, paced by acks: the maximum), then a paced
// window at --rate (the same offered load for every server: the CPU comparison). Ours also runs at
// the latency rates. Every window checks that nothing was lost, duplicated or left unacked.

import { benchMain, isMain, type BenchContext } from './lib/cli.js';
import { fmt, loadProblems, newResult, type BenchResult, type Figure } from './lib/report.js';
import { BENCH_JWT_SECRET, startBaseline, startOurServer, stopServer, type BaselineName, type ServerBuild } from './lib/servers.js';
import type { RunningServer } from './lib/spawn.js';
import { median } from './lib/stats.js';
import { runWsLoad, type LoadMode, type LoadReport } from './lib/ws-load.js';

interface Params {
  pairs: number;
  window: number;
  seconds: number;
  warmupSec: number;
  rate: number;
  /** Numbers, or 'half' for half of ours' closed-loop maximum. */
  latencyRates: (number | 'half')[];
  repeat: number;
}

function params(ctx: BenchContext): Params {
  const a = ctx.args;
  const smoke = ctx.smoke;
  const rates = a.str('latency-rates') ?? (smoke ? '' : '20000,half');
  return {
    pairs: a.num('pairs', smoke ? 4 : 64),
    window: a.num('window', smoke ? 2 : 4),
    seconds: a.num('seconds', smoke ? 1 : 5),
    warmupSec: a.num('warmup', smoke ? 0.5 : 2),
    rate: a.num('rate', smoke ? 400 : 5000),
    latencyRates: rates === '' ? [] : rates.split(',').map((r) => (r === 'half' ? 'half' : Number(r))),
    repeat: a.num('repeat', 1),
  };
}

interface Subject {
  label: string;
  mode: LoadMode;
  start(): Promise<RunningServer>;
  url(port: number): string;
  ours?: ServerBuild;
}

interface Run {
  subject: string;
  load: string;
  /** 1-based repetition (--repeat). */
  rep: number;
  report: LoadReport;
}

function subjects(ctx: BenchContext): Subject[] {
  const baseline = (name: BaselineName, label: string, mode: LoadMode): Subject => ({
    label,
    mode,
    start: () => startBaseline(name, { cpuProfDir: ctx.profileDir }),
    url: (port) => (mode === 'socketio' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/ws`),
  });
  return [
    baseline('uws-echo', 'uws echo', 'echo'),
    baseline('socketio-ack', 'socket.io ack', 'socketio'),
    baseline('uws-chat-memory', 'chat floor (bare uWS, in memory)', 'chat'),
    ...ctx.ours.map<Subject>((build) => ({
      label: build.label,
      mode: 'chat',
      ours: build,
      start: () => startOurServer(build, { cpuProfDir: ctx.profileDir }),
      url: (port) => `ws://127.0.0.1:${port}/ws`,
    })),
  ];
}

export async function runWsSend(ctx: BenchContext): Promise<BenchResult> {
  const p = params(ctx);
  const result = newResult(
    'ws-send',
    'WebSocket send path: full chat cycle vs bare uWS echo, Socket.IO ack and the in-memory chat floor',
    `N=${p.pairs} senders (+${p.pairs} recipients for chat), W=${p.window} in flight each, ${p.seconds} s windows after ${p.warmupSec} s warm-up; ` +
      (p.repeat > 1 ? `every server ${p.repeat} times, interleaved (figures: medians); ` : '') +
      `paced comparison at ${p.rate} msg/s; bodies 50–500 B; one generator thread`,
  );
  const runs: Run[] = [];
  const check = (subject: string, load: string, r: LoadReport): LoadReport => {
    result.problems.push(...loadProblems(`${subject} ${load}`, r));
    if (r.connectRetries) result.notes.push(`${subject} ${load}: ${r.connectRetries} fresh connections were closed by the server (1006) before \`ready\` and retried (see bench/tools/early-close.ts)`);
    return r;
  };

  const only = ctx.args.str('only');
  const chosen = subjects(ctx).filter((x) => only === undefined || only.split(',').some((o) => x.label.startsWith(o)));
  for (let rep = 1; rep <= p.repeat; rep++) for (const s of chosen) {
    ctx.log(`ws-send: ${s.label}${p.repeat > 1 ? ` (${rep}/${p.repeat})` : ''}`);
    const server = await s.start();
    try {
      // uWS closes a few fresh sockets without a close frame under --cpu-prof (and, rarely, on a
      // loaded machine; the bare-uWS floor too): retried and reported, not counted as failures.
      const connectRetries = ctx.profileDir ? 3 : 1;
      // Generous drain and connect timeouts: they only wait when something is stuck, and a stuck
      // message on a loaded CI machine should show as slow, not as lost.
      const base = { mode: s.mode, url: s.url(server.port), pairs: p.pairs, window: p.window, secret: BENCH_JWT_SECRET, connectRetries, drainMs: 15_000, connectTimeoutMs: 30_000 };
      check(s.label, 'warm-up', await runWsLoad({ ...base, durationMs: p.warmupSec * 1000 }));
      const measure = async (load: string, ratePerSec?: number) => {
        const report = check(s.label, load, await runWsLoad({ ...base, durationMs: p.seconds * 1000, ratePerSec, serverPid: server.pid }));
        runs.push({ subject: s.label, load, rep, report });
        return report;
      };
      const closed = await measure('closed loop');
      await measure(`paced ${p.rate}/s`, p.rate);
      if (s.ours) {
        for (const r of p.latencyRates) {
          const rate = r === 'half' ? Math.round(closed.msgsPerSec / 2 / 100) * 100 : r;
          // Labels are per rate kind, not per value, so repetitions of "half max" line up.
          await measure(`paced ${rate}/s${r === 'half' ? ' (half max)' : ''}`, rate);
        }
      }
    } finally {
      await stopServer(server, ctx.profileDir !== undefined);
    }
  }

  result.details.push({
    headers: ['server', 'load', 'msgs/s', 'server CPU µs/msg', 'kernel share', 'server core %', 'generator core %', 'other core %', 'ack p50 / p90 / p99 / max ms', 'send→DELIVERED p50 / p90 / p99 / max ms', 'behind schedule ms'],
    rows: runs.map(({ subject, load, rep, report: r }) => [
      p.repeat > 1 ? `${subject} #${rep}` : subject,
      load,
      fmt(r.msgsPerSec),
      fmt(r.server?.cpuUsPerMsg),
      r.server ? `${Math.round(r.server.systemShare * 100)} %` : '—',
      fmt(r.server?.corePct),
      fmt(r.generator.corePct),
      fmt(r.machine.otherCorePct),
      `${r.ack.p50Ms} / ${r.ack.p90Ms} / ${r.ack.p99Ms} / ${r.ack.maxMs}`,
      r.delivered ? `${r.delivered.p50Ms} / ${r.delivered.p90Ms} / ${r.delivered.p99Ms} / ${r.delivered.maxMs}` : '—',
      r.ratePerSec === undefined ? '—' : fmt(r.backlogMaxMs),
    ]),
  });
  result.figures.push(...figures(p, runs, ctx.ours));
  result.notes.push(
    'A "message" is one full chat cycle for ours and the chat floor (5 frames: send, SENT ack, message, delivered, DELIVERED ack), one echoed frame for uws echo (2 frames), one emit+ack for Socket.IO (2 frames).',
    'Latency is measured from the moment a send is written; "behind schedule" is how far a paced run fell behind its rate (more than a few ms: the server could not take that rate, and the row shows its saturated behaviour).',
    'Server CPU is utime+stime of the server process from /proc over the window (all threads), divided by messages completed; "kernel share" is the stime part (socket syscalls).',
  );
  result.raw = { params: p, runs };
  return result;
}

/** Median over repetitions of one server under one load; the first report stands for the rest (latency, noise). */
interface Agg {
  first: LoadReport;
  cpu: number;
  msgsPerSec: number;
  otherCorePct: number;
}

function figures(p: Params, runs: Run[], ours: ServerBuild[]): Figure[] {
  const find = (subject: string, load: string): Agg | undefined => {
    const rs = runs.filter((r) => r.subject === subject && r.load.startsWith(load)).map((r) => r.report);
    if (rs.length === 0) return undefined;
    return {
      first: rs[0]!,
      cpu: median(rs.map((r) => r.server?.cpuUsPerMsg ?? NaN)),
      msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
      otherCorePct: median(rs.map((r) => r.machine.otherCorePct)),
    };
  };
  const cpu = (r: Agg | undefined) => r?.cpu ?? NaN;
  const paced = `paced ${p.rate}/s`;
  const out: Figure[] = [];
  const main = ours[0]!.label;
  const oursPaced = find(main, paced);
  const oursClosed = find(main, 'closed loop');
  for (const [load, r] of [[paced, oursPaced], ['closed loop', oursClosed]] as const) {
    if (!r) continue;
    const echo = find('uws echo', load);
    const sio = find('socket.io ack', load);
    const floor = find('chat floor (bare uWS, in memory)', load);
    const name = `WS chat cycle, ${load}: server CPU`;
    const e = cpu(echo);
    // Baselines left out with --only have no figure.
    if (echo) out.push({ name, value: cpu(r), unit: 'µs/msg', baseline: { name: 'uws echo', value: e }, target: { text: '≤ 2× echo', met: cpu(r) <= 2 * e }, otherCorePct: r.otherCorePct });
    if (sio) out.push({ name, value: cpu(r), unit: 'µs/msg', baseline: { name: 'socket.io ack', value: cpu(sio) }, target: { text: '< socket.io', met: cpu(r) < cpu(sio) }, otherCorePct: r.otherCorePct });
    if (floor) out.push({ name, value: cpu(r), unit: 'µs/msg', baseline: { name: 'chat floor', value: cpu(floor) }, otherCorePct: r.otherCorePct });
  }
  if (oursClosed) {
    const name = 'WS chat cycle, closed loop: throughput';
    for (const b of ['uws echo', 'socket.io ack']) {
      if (find(b, 'closed loop')) out.push({ name, value: oursClosed.msgsPerSec, unit: 'msgs/s', baseline: { name: b, value: find(b, 'closed loop')?.msgsPerSec ?? NaN }, otherCorePct: oursClosed.otherCorePct });
    }
  }
  for (const run of runs.filter((r) => r.subject === main && r.rep === 1 && r.report.ratePerSec !== undefined && r.report.ratePerSec !== p.rate)) {
    const r = run.report;
    const half = run.load.includes('half max');
    const limit = half ? 5 : 10;
    const reached = r.msgsPerSec >= 0.97 * r.ratePerSec!;
    out.push({
      name: `SENT-ack p99 at ${fmt(r.ratePerSec)} msg/s${half ? ' (half max)' : ''}${reached ? '' : ` (only ${fmt(r.msgsPerSec)} reached)`}`,
      value: r.ack.p99Ms,
      unit: 'ms',
      target: { text: `≤ ${limit} ms${r.ratePerSec === 20000 || half ? '' : ' (at 20000/s)'}`, met: reached && r.ack.p99Ms <= limit },
      otherCorePct: r.machine.otherCorePct,
    });
  }
  // --compare: the working tree against the ref, same run, same load.
  for (const other of ours.slice(1)) {
    for (const load of [paced, 'closed loop']) {
      const a = find(main, load);
      const b = find(other.label, load);
      if (a && b) out.push({ name: `WS chat cycle, ${load}: server CPU, ${main} vs ${other.label}`, value: cpu(a), unit: 'µs/msg', baseline: { name: other.label, value: cpu(b) }, otherCorePct: a.otherCorePct });
    }
    const a = find(main, 'closed loop');
    const b = find(other.label, 'closed loop');
    if (a && b) out.push({ name: `WS chat cycle, closed loop: throughput, ${main} vs ${other.label}`, value: a.msgsPerSec, unit: 'msgs/s', baseline: { name: other.label, value: b.msgsPerSec }, otherCorePct: a.otherCorePct });
  }
  return out;
}

if (isMain(import.meta.url)) await benchMain('ws-send', async (ctx) => [await runWsSend(ctx)]);
