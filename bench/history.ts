// History paging (issue 13): a conversation of N messages (default 10,000) on the in-memory store;
// `GET /api/conversations/:id/messages?limit=50` timed for the newest page and for pages with
// `before` at random positions, one request at a time on one keep-alive connection. Target: p99
// ≤ 5 ms on memory. (On MongoDB the index is asserted from `explain` by the store tests.)
//
//   node --import tsx bench/history.ts [--smoke] [--compare <ref>] [--profile]
//     --history-messages N (10000)  --requests R (300 of each kind, after 50 warm-up)  --limit L (50)
//     --history-window W (256: sends in flight while filling)
//
// The conversation is a group of two (the sender and one more member), filled over the WebSocket
// from one sender. Every page is checked: `limit` messages, ascending, contiguous, ending just
// before `before` (or at the last seq), `hasMore` right.

import { Agent, request } from 'node:http';
import { messageView } from '../src/protocol/api-views.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import type WebSocket from 'ws';
import { makeBodyPool, runTag } from './lib/bodies.js';
import { benchMain, isMain, type BenchContext } from './lib/cli.js';
import { signTestToken } from './lib/jwt.js';
import { cpuDelta, readMachineCpu, readProcCpu, selfCpu } from './lib/proc-cpu.js';
import { fmt, newResult, type BenchResult } from './lib/report.js';
import { BENCH_JWT_SECRET, startOurServer, stopServer, type ServerBuild } from './lib/servers.js';
import { closeWs, corkingSender, openWs } from './lib/ws-connect.js';
import { Histogram, type LatencySummary } from './lib/stats.js';

interface Page {
  messages: { seq: number; messageId: string }[];
  hasMore: boolean;
}

function get(agent: Agent, port: number, path: string, token: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Stores `total` messages in the conversation from one sender, `window` in flight; resolves on the last SENT ack. */
async function fill(url: string, token: string, conversationId: string, tag: string, total: number, window: number, timeoutMs: number): Promise<void> {
  const bodies = makeBodyPool(50, 500);
  let next = 0;
  let acked = 0;
  let ws!: WebSocket;
  let send!: (frame: string) => void;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`filling: ${acked}/${total} SENT acks after ${timeoutMs} ms`)), timeoutMs);
    const pump = () => {
      while (next < total && next - acked < window) {
        const k = next++;
        send(`{"type":"send","messageId":"hi-${tag}-${k}","conversationId":"${conversationId}","body":"${bodies[k % bodies.length]}"}`);
      }
    };
    void openWs(url, {
      token,
      timeoutMs: 10_000,
      onFrame: (text) => {
        if (text.includes('"type":"ready"')) return;
        if (!text.includes('"status":"SENT"')) {
          clearTimeout(timer);
          return reject(new Error(`filling: sender got ${text.slice(0, 160)}`));
        }
        if (++acked === total) {
          clearTimeout(timer);
          resolve();
        } else {
          pump();
        }
      },
    }).then((socket) => {
      ws = socket;
      send = corkingSender(ws);
      pump();
    }, reject);
  });
  await closeWs(ws);
}

interface Kind {
  name: string;
  latency: LatencySummary;
  serverCpuUs: number;
  ms: number;
  otherCorePct: number;
  bytes: number;
}

interface HistoryRun {
  subject: string;
  messages: number;
  fillMs: number;
  kinds: Kind[];
}

async function runOne(ctx: BenchContext, build: ServerBuild, o: { messages: number; requests: number; limit: number; window: number }, problems: string[]): Promise<HistoryRun> {
  const server = await startOurServer(build, { cpuProfDir: ctx.profileDir });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const tag = runTag();
    const senderId = `bench-hi-${tag}-s`;
    const token = await signTestToken(senderId, BENCH_JWT_SECRET);
    const created = await fetch(`http://127.0.0.1:${server.port}/api/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: `history ${tag}`, members: [`bench-hi-${tag}-r`] }),
    });
    const group = (await created.json()) as { conversationId?: string };
    if (created.status !== 201 || typeof group.conversationId !== 'string') throw new Error(`POST /api/conversations answered ${created.status}`);
    const conversationId = group.conversationId;

    ctx.log(`history: ${build.label}: storing ${o.messages} messages`);
    const t0 = performance.now();
    await fill(`ws://127.0.0.1:${server.port}/ws`, token, conversationId, tag, o.messages, o.window, 60_000 + o.messages * 5);
    const fillMs = performance.now() - t0;

    const path = (before: number | undefined) => `/api/conversations/${encodeURIComponent(conversationId)}/messages?limit=${o.limit}${before === undefined ? '' : `&before=${before}`}`;
    const problemsBefore = problems.length;
    const check = (before: number | undefined, status: number, text: string): void => {
      if (problems.length - problemsBefore >= 5) return;
      if (status !== 200) return void problems.push(`${build.label}: GET ${path(before)} answered ${status}: ${text.slice(0, 120)}`);
      const page = JSON.parse(text) as Page;
      const end = before === undefined ? o.messages : Math.min(o.messages, before - 1);
      const start = Math.max(1, end - o.limit + 1);
      const seqs = page.messages.map((m) => m.seq);
      const ok = seqs.length === end - start + 1 && seqs.every((s, i) => s === start + i) && page.hasMore === start > 1;
      if (!ok) problems.push(`${build.label}: GET ${path(before)}: seqs ${seqs[0]}…${seqs.at(-1)} (${seqs.length}), hasMore ${page.hasMore}; expected ${start}…${end}, hasMore ${start > 1}`);
    };
    // Random `before` positions, the same sequence for every kind of run: anywhere in the conversation.
    const befores = Array.from({ length: o.requests }, () => o.limit + 1 + Math.floor(Math.random() * (o.messages - o.limit)));
    const kinds: Kind[] = [];
    const measure = async (name: string, beforeOf: (i: number) => number | undefined, n: number): Promise<Kind> => {
      const h = new Histogram();
      let bytes = 0;
      const cpu0 = readProcCpu(server.pid);
      const self0 = selfCpu();
      const machine0 = readMachineCpu().busyUs;
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        const before = beforeOf(i);
        const t = performance.now();
        const r = await get(agent, server.port, path(before), token);
        h.recordMs(performance.now() - t);
        bytes += r.text.length;
        check(before, r.status, r.text);
      }
      const ms = performance.now() - started;
      const serverCpuUs = cpuDelta(cpu0, readProcCpu(server.pid)).totalUs;
      const selfUs = cpuDelta(self0, selfCpu()).totalUs;
      const otherCorePct = Math.max(0, ((readMachineCpu().busyUs - machine0 - serverCpuUs - selfUs) / 1000 / ms) * 100);
      return { name, latency: h.summary(), serverCpuUs: serverCpuUs / n, ms, otherCorePct, bytes: bytes / n };
    };
    ctx.log(`history: ${build.label}: warm-up, then ${o.requests} newest pages and ${o.requests} pages with before`);
    await measure('warm-up', (i) => (i % 2 ? undefined : befores[i % befores.length]), Math.min(50, o.requests));
    kinds.push(await measure('newest page (no before)', () => undefined, o.requests));
    kinds.push(await measure('page with before (random position)', (i) => befores[i], o.requests));
    return { subject: build.label, messages: o.messages, fillMs, kinds };
  } finally {
    agent.destroy();
    await stopServer(server, ctx.profileDir !== undefined);
  }
}

/**
 * The server's own work for one page without HTTP, sockets or the scheduler: MemoryStore.history, the
 * views and JSON.stringify, in this process (working tree's src/), same sizes. Separates what the
 * route costs from what a shared machine adds to the client-side latency.
 */
async function inProcess(o: { messages: number; requests: number; limit: number }): Promise<{ newest: LatencySummary; before: LatencySummary }> {
  const store = new MemoryStore();
  await store.start();
  const bodies = makeBodyPool(50, 500);
  const { conversation: group } = await store.createGroup({ conversationId: 'g:bench-history', title: 'bench', ownerId: 'a', members: ['b'], createdAt: Date.now() });
  for (let k = 0; k < o.messages; k++) {
    await store.persist({ messageId: `m-${k}`, conversationId: group.conversationId, from: 'a', fromDevice: 'default', body: bodies[k % bodies.length]!, ts: Date.now() });
  }
  const page = async (before: number | undefined) => {
    const p = await store.history(group.conversationId, before, o.limit);
    return JSON.stringify({ messages: p.messages.map(messageView), hasMore: p.hasMore }).length;
  };
  const time = async (beforeOf: (i: number) => number | undefined) => {
    const h = new Histogram();
    for (let i = 0; i < o.requests; i++) {
      const t = performance.now();
      await page(beforeOf(i));
      h.recordMs(performance.now() - t);
    }
    return h.summary();
  };
  await time(() => undefined); // warm-up
  const newest = await time(() => undefined);
  const before = await time(() => o.limit + 1 + Math.floor(Math.random() * (o.messages - o.limit)));
  await store.close();
  return { newest, before };
}

export async function runHistory(ctx: BenchContext): Promise<BenchResult> {
  const a = ctx.args;
  const o = {
    messages: a.num('history-messages', ctx.smoke ? 1000 : 10_000),
    requests: a.num('requests', ctx.smoke ? 50 : 300),
    limit: a.num('limit', 50),
    window: a.num('history-window', 256),
  };
  const result = newResult(
    'history',
    'History paging: GET /api/conversations/:id/messages?limit=50 on an N-message conversation (mem)',
    `N=${o.messages} messages (bodies 50–500 B) in a group of two, DB_URI=mem; ${o.requests} requests of each kind after a warm-up, one at a time on one keep-alive connection (node:http), limit=${o.limit}; latency measured at the client (request written → body read)`,
  );
  const runs: HistoryRun[] = [];
  for (const build of ctx.ours) {
    try {
      runs.push(await runOne(ctx, build, o, result.problems));
    } catch (e) {
      result.problems.push(`${build.label}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const local = await inProcess(o);
  result.details.push({
    title: 'In this process, no HTTP (working tree): MemoryStore.history + views + JSON.stringify of one page',
    headers: ['request', 'p50 ms', 'p99 ms', 'max ms'],
    rows: [
      ['newest page', fmt(local.newest.p50Ms), fmt(local.newest.p99Ms), fmt(local.newest.maxMs)],
      ['page with before', fmt(local.before.p50Ms), fmt(local.before.p99Ms), fmt(local.before.maxMs)],
    ],
  });
  result.details.push({
    title: 'Over HTTP, one request at a time (client-side latency)',
    headers: ['server', 'request', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'server CPU µs/request', 'response KB', 'other core %'],
    rows: runs.flatMap((r) => r.kinds.map((k) => [r.subject, k.name, fmt(k.latency.p50Ms), fmt(k.latency.p90Ms), fmt(k.latency.p99Ms), fmt(k.latency.maxMs), fmt(k.serverCpuUs), fmt(k.bytes / 1024), fmt(k.otherCorePct)])),
  });
  const main = runs.find((r) => r.subject === ctx.ours[0]!.label);
  if (main) {
    const full = main.messages >= 10_000;
    for (const k of main.kinds) {
      result.figures.push({ name: `history ${k.name}, ${main.messages} msgs: p99`, value: k.latency.p99Ms, unit: 'ms', target: full ? { text: '≤ 5 ms', met: k.latency.p99Ms <= 5 } : undefined, otherCorePct: k.otherCorePct });
      result.figures.push({ name: `history ${k.name}, ${main.messages} msgs: p50`, value: k.latency.p50Ms, unit: 'ms', otherCorePct: k.otherCorePct });
    }
    const line =
      `history: ${main.messages} msgs, limit ${o.limit}: ` +
      main.kinds.map((k) => `${k.name} p50 ${fmt(k.latency.p50Ms)} ms p99 ${fmt(k.latency.p99Ms)} ms (${fmt(k.serverCpuUs)} µs server CPU)`).join('; ') +
      `; in-process page (no HTTP) p99 ${fmt(local.before.p99Ms)} ms`;
    result.notes.push(line);
    ctx.log(line);
    result.notes.push(`filling ${main.messages} messages over the WebSocket took ${fmt(main.fillMs)} ms`);
  }
  for (const b of ctx.ours.slice(1)) {
    const x = main?.kinds[1];
    const y = runs.find((r) => r.subject === b.label)?.kinds[1];
    if (x && y) result.figures.push({ name: `history page with before p99, ${ctx.ours[0]!.label} vs ${b.label}`, value: x.latency.p99Ms, unit: 'ms', baseline: { name: b.label, value: y.latency.p99Ms } });
  }
  result.raw = { o, runs };
  return result;
}

if (isMain(import.meta.url)) await benchMain('history', async (ctx) => [await runHistory(ctx)]);
