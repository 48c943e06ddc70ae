// How many database round trips the HTTP reads a client makes on opening a conversation wait for, one
// after another, through the real server on the MongoStore: GET /api/conversations/:id (the item and
// its members' receipts), a history page, and the conversation list. The server talks to the database
// through bench/lib/latency-proxy.ts (its own process, D ms each way); each figure is the median
// answer time over the median `ping` through the same proxy (which includes the database's own time
// per command, so the quotient counts round trips, not FerretDB's work).
//
//   node --import tsx bench/tools/http-read-round-trips.ts [--delay-ms 10] [--n 7] [--tree DIR]
//
// --tree runs another checkout's server (src/main.ts; its node_modules must be installed or linked),
// e.g. a `git worktree add /tmp/base <ref>` with `ln -s $PWD/node_modules /tmp/base/`. Needs the
// MongoDB-wire server of BENCH_MONGO_URI (else TEST_MONGO_URI, else 127.0.0.1:27017). On FerretDB the
// server uses FerretDB's query shapes (find-by-ids.ts): the list's MongoDB-only gains do not show here.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { startLatencyProxyProcess } from '../lib/latency-proxy.js';
import { benchMongoBaseUri, dropDatabase, freshDatabaseName, withDatabase } from '../lib/mongo.js';
import { median } from '../lib/stats.js';

const { values: args } = parseArgs({ options: { 'delay-ms': { type: 'string', default: '10' }, n: { type: 'string', default: '7' }, tree: { type: 'string' } } });
const N = Number(args.n);
const TREE = args.tree ?? fileURLToPath(new URL('../..', import.meta.url));

const timed = async (action: () => Promise<unknown>) => {
  const t0 = performance.now();
  await action();
  return performance.now() - t0;
};

async function main(): Promise<void> {
  const base = benchMongoBaseUri();
  const db = freshDatabaseName('bench_http_trips');
  const proxy = await startLatencyProxyProcess(new URL(base).host, Number(args['delay-ms']));
  const viaProxy = `${withDatabase(`mongodb://127.0.0.1:${proxy.port}/`, db)}?directConnection=true`;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const env = { ...process.env, NODE_ENV: 'development', PORT: String(port), JWT_SECRET: 'bench-http-trips-0123456789abcdef0123', DB_URI: viaProxy, DB_BATCH_MAX_WAIT_MS: '0', SERVE_DEMO: 'false' };
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: TREE, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const client = await new MongoClient(viaProxy).connect();
  try {
    for (let i = 0; ; i++) {
      if ((await fetch(`${url}/healthz`).then((r) => r.ok, () => false))) break;
      if (i > 150) throw new Error('the server did not start');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const token = async (username: string) => {
      const res = await fetch(`${url}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: 'password123', bearer: true }) });
      return ((await res.json()) as { token: string }).token;
    };
    const [ann, bob] = [await token('ann'), await token('bob')];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/api/messages`, { method: 'POST', headers: { authorization: `Bearer ${ann}`, 'content-type': 'application/json' }, body: JSON.stringify({ messageId: `m-${i}`, to: 'bob', body: 'hi' }) });
      if (res.status !== 201) throw new Error(`send: ${res.status}`);
    }
    const pings: number[] = [];
    for (let i = 0; i < N; i++) pings.push(await timed(() => client.db('admin').command({ ping: 1 })));
    const ping = median(pings);
    console.log(`${TREE}: through a ${args['delay-ms']} ms-each-way proxy, ping ${ping.toFixed(1)} ms (median of ${N})\n\n| read | median ms | round trips (÷ ping) |\n| --- | ---: | ---: |`);
    for (const [name, path] of [['GET /api/conversations/:id', '/api/conversations/d:ann:bob'], ['a history page', '/api/conversations/d:ann:bob/messages?limit=2'], ['GET /api/conversations', '/api/conversations']] as const) {
      const times: number[] = [];
      for (let i = 0; i < N; i++) {
        times.push(await timed(async () => {
          const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${bob}` } });
          if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
          await res.text();
        }));
      }
      console.log(`| ${name} | ${median(times).toFixed(1)} | ${(median(times) / ping).toFixed(2)} |`);
    }
  } finally {
    server.kill();
    await client.close();
    await proxy.stop();
    await dropDatabase(base, db);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
