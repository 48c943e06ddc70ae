// HTTP door of the send path: autocannon POSTs /api/messages (Bearer token, a fresh messageId per
// request, 50–500 B bodies) against our server, the bare uWS POST handler (answers 201, stores
// nothing) and a Fastify route doing the same.
//
//   node --import tsx bench/http-send.ts [--smoke] [--compare <ref>] [--profile]
//     --connections C (64)  --seconds S (5)  --warmup S (2)  --only ours,uws,fastify (servers to run)
//
// Closed loop: C connections, one request in flight each. Any non-2xx answer, error or timeout fails,
// and so does a lost or duplicated message on ours (checked against its /metrics, see sendProblems).

import { runAutocannon, type AutocannonReport } from './lib/autocannon-run.js';
import { benchMain, isMain, type BenchContext } from './lib/cli.js';
import { signTestToken } from './lib/jwt.js';
import { scrapeMetrics } from './lib/metrics-scrape.js';
import { fmt, newResult, type BenchResult, type Figure } from './lib/report.js';
import { BENCH_JWT_SECRET, ourServerEnv, startBaseline, startOurServer, stopServer } from './lib/servers.js';
import type { RunningServer } from './lib/spawn.js';

interface Run {
  subject: string;
  report: AutocannonReport;
}

type SendCounts = Record<'new' | 'duplicate' | 'conflict', number>;

/**
 * Ours' chat_messages_sent_total by result, once the count has stopped moving: requests autocannon
 * dropped in flight at its stop may still be in the store when it returns. Missing samples are NaN
 * (a server without the counter cannot pass the check).
 */
async function settledSendCounts(port: number): Promise<SendCounts> {
  const read = async (): Promise<SendCounts> => {
    const m = await scrapeMetrics(port);
    const get = (r: string) => m.get(`chat_messages_sent_total{result="${r}"}`) ?? NaN;
    return { new: get('new'), duplicate: get('duplicate'), conflict: get('conflict') };
  };
  let last = await read();
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await read();
    if (now.new === last.new) return now;
    last = now;
  }
  return last;
}

/**
 * Lost or duplicated messages on ours over one autocannon run. Every request carries a fresh
 * messageId, so each 2xx must be one `new` store (fewer: a 2xx for a message not stored = lost), and
 * `duplicate`/`conflict` must stay 0 (an id seen twice = sent or stored twice). `new` may exceed the
 * 2xx count only by the requests written but never answered (dropped in flight at autocannon's stop).
 */
function sendProblems(label: string, before: SendCounts, after: SendCounts, r: AutocannonReport): string[] {
  const d = (k: keyof SendCounts) => after[k] - before[k];
  const stored = d('new');
  const unanswered = r.issued - r.requests;
  const seen = `chat_messages_sent_total{result="new"} +${stored}, ${r.ok2xx} 2xx, ${unanswered} unanswered`;
  const p: string[] = [];
  if (!Number.isFinite(stored) || !Number.isFinite(d('duplicate')) || !Number.isFinite(d('conflict'))) return [`${label}: cannot check for lost or duplicated messages: chat_messages_sent_total{result=new|duplicate|conflict} missing from /metrics`];
  if (stored < r.ok2xx) p.push(`${label}: ${r.ok2xx - stored} messages answered 2xx but never stored (lost; ${seen})`);
  if (stored > r.ok2xx + unanswered) p.push(`${label}: ${stored - r.ok2xx - unanswered} more messages stored than sent (duplicated; ${seen})`);
  if (d('duplicate')) p.push(`${label}: ${d('duplicate')} sends stored as duplicates (duplicated: every request has a fresh messageId)`);
  if (d('conflict')) p.push(`${label}: ${d('conflict')} sends refused as conflicts (duplicated: every request has a fresh messageId)`);
  return p;
}

export async function runHttpSend(ctx: BenchContext): Promise<BenchResult> {
  const a = ctx.args;
  const connections = a.num('connections', ctx.smoke ? 4 : 64);
  const seconds = a.num('seconds', ctx.smoke ? 1 : 5);
  const warmupSec = a.num('warmup', ctx.smoke ? 0.5 : 2);
  const result = newResult(
    'http-send',
    'HTTP send path: POST /api/messages vs bare uWS POST and Fastify',
    `autocannon, ${connections} connections, pipelining 1, ${seconds} s after ${warmupSec} s warm-up, bodies 50–500 B, fresh messageId per request, recipient offline (messages stay pending)`,
  );
  const token = await signTestToken('bench-http-sender', BENCH_JWT_SECRET);
  // Only ours stores messages (and has /metrics): the baselines skip the lost/duplicated check, and so
  // does ours when a run turns its /metrics off (BENCH_OURS_ENV='METRICS_MODE=off').
  const metricsOff = ourServerEnv().METRICS_MODE === 'off';
  if (metricsOff) result.notes.push('METRICS_MODE=off: lost/duplicated messages on ours were not checked (the check reads /metrics).');
  const subjects: { label: string; ours?: true; start: () => Promise<RunningServer> }[] = [
    { label: 'uws POST', start: () => startBaseline('uws-echo', { cpuProfDir: ctx.profileDir }) },
    { label: 'fastify POST', start: () => startBaseline('fastify-post', { cpuProfDir: ctx.profileDir }) },
    ...ctx.ours.map((b) => ({ label: b.label, ours: true as const, start: () => startOurServer(b, { cpuProfDir: ctx.profileDir }) })),
  ];
  const runs: Run[] = [];
  const only = a.str('only');
  for (const s of subjects.filter((x) => only === undefined || only.split(',').some((o) => x.label.startsWith(o)))) {
    ctx.log(`http-send: ${s.label}`);
    const server = await s.start();
    try {
      const url = `http://127.0.0.1:${server.port}/api/messages`;
      const check = (what: string, r: AutocannonReport) => {
        if (r.non2xx || r.errors || r.timeouts) {
          result.problems.push(`${s.label} ${what}: non-2xx ${r.non2xx} ${JSON.stringify(r.statusCodes)}, errors ${r.errors}, timeouts ${r.timeouts}`);
        }
        if (r.ok2xx === 0) result.problems.push(`${s.label} ${what}: no request succeeded`);
      };
      // Scrapes fall between the runs, outside the measured window.
      const counts = s.ours && !metricsOff ? () => settledSendCounts(server.port) : undefined;
      const run = async (what: string, o: { durationSec: number; serverPid?: number }) => {
        const before = await counts?.();
        const r = await runAutocannon({ url, token, connections, ...o });
        check(what, r);
        if (before) result.problems.push(...sendProblems(`${s.label} ${what}`, before, await counts!(), r));
        return r;
      };
      await run('warm-up', { durationSec: warmupSec });
      const report = await run('measured', { durationSec: seconds, serverPid: server.pid });
      runs.push({ subject: s.label, report });
    } finally {
      await stopServer(server, ctx.profileDir !== undefined);
    }
  }

  result.details.push({
    headers: ['server', 'req/s', 'server CPU µs/req', 'kernel share', 'server core %', 'generator core %', 'other core %', 'p50 / p90 / p99 / max ms', 'non-2xx'],
    rows: runs.map(({ subject, report: r }) => [
      subject,
      fmt(r.reqPerSec),
      fmt(r.server?.cpuUsPerReq),
      r.server ? `${Math.round(r.server.systemShare * 100)} %` : '—',
      fmt(r.server?.corePct),
      fmt(r.generator.corePct),
      fmt(r.machine.otherCorePct),
      `${r.latency.p50Ms} / ${r.latency.p90Ms} / ${r.latency.p99Ms} / ${r.latency.maxMs}`,
      r.non2xx,
    ]),
  });
  const find = (label: string) => runs.find((r) => r.subject === label)?.report;
  const main = ctx.ours[0]!.label;
  const ours = find(main);
  const figures: Figure[] = [];
  if (ours) {
    const other = ours.machine.otherCorePct;
    const uws = find('uws POST');
    const fastify = find('fastify POST');
    const rps = 'POST /api/messages: throughput';
    // On 2 cores autocannon (one thread) saturates near the servers' own rates, so measured req/s is
    // often the generator's limit; 1e6 / (server CPU µs per request) is what one server core could
    // take at this CPU cost, and compares servers without the generator in the way.
    const saturated = Math.max(...runs.map((r) => r.report.generator.corePct)) >= 90;
    const measuredName = saturated ? `${rps} (generator-bound: ≥ 90 % of a core)` : rps;
    if (uws) figures.push({ name: measuredName, value: ours.reqPerSec, unit: 'req/s', baseline: { name: 'uws POST', value: uws?.reqPerSec ?? NaN }, target: { text: '≥ 0.5× uws', met: ours.reqPerSec >= 0.5 * (uws?.reqPerSec ?? Infinity) }, otherCorePct: other });
    if (fastify) figures.push({ name: measuredName, value: ours.reqPerSec, unit: 'req/s', baseline: { name: 'fastify POST', value: fastify?.reqPerSec ?? NaN }, target: { text: '≥ 2× fastify', met: ours.reqPerSec >= 2 * (fastify?.reqPerSec ?? Infinity) }, otherCorePct: other });
    const cpu = 'POST /api/messages: server CPU';
    const c = ours.server?.cpuUsPerReq ?? NaN;
    const cap = (r: AutocannonReport | undefined) => 1e6 / (r?.server?.cpuUsPerReq ?? NaN);
    const capName = 'POST /api/messages: capacity per server core (1e6 / CPU µs per req)';
    if (uws) figures.push({ name: capName, value: cap(ours), unit: 'req/s', baseline: { name: 'uws POST', value: cap(uws) }, target: { text: '≥ 0.5× uws', met: cap(ours) >= 0.5 * cap(uws) }, otherCorePct: other });
    if (fastify) figures.push({ name: capName, value: cap(ours), unit: 'req/s', baseline: { name: 'fastify POST', value: cap(fastify) }, target: { text: '≥ 2× fastify', met: cap(ours) >= 2 * cap(fastify) }, otherCorePct: other });
    if (uws) figures.push({ name: cpu, value: c, unit: 'µs/req', baseline: { name: 'uws POST', value: uws?.server?.cpuUsPerReq ?? NaN }, otherCorePct: other });
    if (fastify) figures.push({ name: cpu, value: c, unit: 'µs/req', baseline: { name: 'fastify POST', value: fastify?.server?.cpuUsPerReq ?? NaN }, otherCorePct: other });
    for (const b of ctx.ours.slice(1)) {
      const r = find(b.label);
      if (!r) continue;
      figures.push({ name: `${rps}, ${main} vs ${b.label}`, value: ours.reqPerSec, unit: 'req/s', baseline: { name: b.label, value: r.reqPerSec }, otherCorePct: other });
      figures.push({ name: `${cpu}, ${main} vs ${b.label}`, value: c, unit: 'µs/req', baseline: { name: b.label, value: r.server?.cpuUsPerReq ?? NaN }, otherCorePct: other });
    }
  }
  result.figures.push(...figures);
  result.notes.push(
    'autocannon runs in the benchmark process (one thread) on the same machine; on 2 cores it competes with the server, so compare req/s only within one run and read the generator core % beside it.',
    'Ours stores every request (DB-first) before answering 201; the baselines parse the body and answer 201 without storing anything.',
  );
  result.raw = { connections, seconds, warmupSec, runs };
  return result;
}

if (isMain(import.meta.url)) await benchMain('http-send', async (ctx) => [await runHttpSend(ctx)]);
