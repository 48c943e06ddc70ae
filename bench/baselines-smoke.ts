// Quick end-to-end check of the harness and first baseline figures:
// starts each baseline server, warms it up, measures one short window per
// load type, prints msgs/s and server CPU µs per message.
//
//   node --import tsx bench/baselines-smoke.ts
//   env: SMOKE_SECONDS (3), SMOKE_N (4), SMOKE_W (4), SMOKE_WORKERS (0)
//
// Full reports go to bench/results/baselines-smoke-<time>.json (gitignored).

import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runAutocannon, type AutocannonReport } from './lib/autocannon-run.js';
import { signTestToken } from './lib/jwt.js';
import { startServer, type RunningServer } from './lib/spawn.js';
import { runWsLoad, type LoadReport, type WsLoadOptions } from './lib/ws-load.js';

const seconds = Number(process.env.SMOKE_SECONDS ?? 3);
const N = Number(process.env.SMOKE_N ?? 4);
const W = Number(process.env.SMOKE_W ?? 4);
const workers = Number(process.env.SMOKE_WORKERS ?? 0);
const secret = 'bench-smoke-secret';
const warmupMs = 1000;

interface Row {
  name: string;
  msgsPerSec: number;
  cpuUsPerMsg: number;
  serverCorePct: number;
  genCorePct: number;
  otherCorePct: number;
  p50Ms: number;
  p99Ms: number;
  problems: string;
}

const rows: Row[] = [];
const raw: Record<string, unknown> = {};

// Paths relative to this file, so the script works from any cwd.
const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));

function start(script: string): Promise<RunningServer> {
  return startServer({
    command: process.execPath,
    args: ['--import', 'tsx', here(script)],
    cwd: here('..'),
    env: { JWT_SECRET: secret, NODE_ENV: 'development' },
  });
}

async function wsCase(name: string, server: RunningServer, o: Omit<WsLoadOptions, 'durationMs' | 'pairs' | 'window'>) {
  const base = { pairs: N, window: W, workers, secret, ...o };
  await runWsLoad({ ...base, durationMs: warmupMs }); // JIT warm-up on both sides, not measured
  const r: LoadReport = await runWsLoad({ ...base, durationMs: seconds * 1000, serverPid: server.pid });
  raw[name] = r;
  const problems = [
    r.errorCount && `errors=${JSON.stringify(r.errors)}`,
    r.lost && `lost=${r.lost}`,
    r.duplicated && `dup=${r.duplicated}`,
    r.unacked && `unacked=${r.unacked}`,
    r.undelivered && `undelivered=${r.undelivered}`,
    Object.keys(r.unexpected).length && `unexpected=${JSON.stringify(r.unexpected)}`,
  ].filter(Boolean);
  rows.push({
    name,
    msgsPerSec: r.msgsPerSec,
    cpuUsPerMsg: r.server!.cpuUsPerMsg,
    serverCorePct: r.server!.corePct,
    genCorePct: r.generator.corePct,
    otherCorePct: r.machine.otherCorePct,
    p50Ms: r.ack.p50Ms,
    p99Ms: r.ack.p99Ms,
    problems: problems.join(' ') + (r.delivered ? ` delivered p50/p99=${r.delivered.p50Ms}/${r.delivered.p99Ms}ms` : ''),
  });
}

async function httpCase(name: string, server: RunningServer) {
  const token = await signTestToken('bench-smoke-sender', secret);
  const url = `http://127.0.0.1:${server.port}/api/messages`;
  await runAutocannon({ url, token, connections: N * W, durationSec: warmupMs / 1000 });
  const r: AutocannonReport = await runAutocannon({ url, token, connections: N * W, durationSec: seconds, serverPid: server.pid });
  raw[name] = r;
  rows.push({
    name,
    msgsPerSec: r.reqPerSec,
    cpuUsPerMsg: r.server!.cpuUsPerReq,
    serverCorePct: r.server!.corePct,
    genCorePct: r.generator.corePct,
    otherCorePct: r.machine.otherCorePct,
    p50Ms: r.latency.p50Ms,
    p99Ms: r.latency.p99Ms,
    problems: [r.non2xx && `non2xx=${r.non2xx}`, r.errors && `errors=${r.errors}`].filter(Boolean).join(' '),
  });
}

async function withServer(script: string, body: (s: RunningServer) => Promise<void>): Promise<void> {
  const s = await start(script);
  try {
    await body(s);
  } finally {
    await s.stop();
  }
}

await withServer('./baselines/uws-echo.ts', async (s) => {
  const url = `ws://127.0.0.1:${s.port}/ws`;
  await wsCase('uws echo (ws)', s, { mode: 'echo', url });
  await httpCase('uws POST (autocannon)', s);
});
await withServer('./baselines/fastify-post.ts', (s) => httpCase('fastify POST (autocannon)', s));
await withServer('./baselines/socketio-ack.ts', (s) =>
  wsCase('socket.io emit+ack', s, { mode: 'socketio', url: `http://127.0.0.1:${s.port}` }),
);
await withServer('./baselines/uws-chat-memory.ts', (s) =>
  wsCase('uws chat in-memory (ws)', s, { mode: 'chat', url: `ws://127.0.0.1:${s.port}/ws` }),
);

console.log(`\nN=${N} W=${W} (${N * W} in flight), ${seconds}s measured after ${warmupMs}ms warm-up, generator workers=${workers}`);
console.table(rows);

mkdirSync(here('./results'), { recursive: true });
const file = here(`./results/baselines-smoke-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ N, W, seconds, workers, rows, raw }, null, 2));
console.log(`full reports: ${file}`);
