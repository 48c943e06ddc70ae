// How many database round trips the HTTP reads a client makes on opening a conversation wait for, one
// after another, through the real server on the MongoStore: GET /api/conversations/:id (the item and
// its members' receipts), a history page, and the conversation list. The server talks to the database
// through bench/lib/latency-proxy.ts (its own process, D ms each way); each figure is the median
// answer time over the median `ping` through the same proxy (which includes the database's own time
// per command, so the quotient counts round trips, not FerretDB's work).
//
//   node --import tsx bench/tools/http-read-round-trips.ts [--delay-ms 10] [--n 7] [--ref REF]
//
// --ref measures that commit's server too (compiled as `paced.ts --compare` compiles it), each build on
// a fresh database. Needs the MongoDB-wire server of BENCH_MONGO_URI (else TEST_MONGO_URI, else
// 127.0.0.1:27017). On FerretDB the server uses FerretDB's query shapes (find-by-ids.ts): the list's
// MongoDB-only gains do not show here.
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { signTestToken } from '../lib/jwt.js';
import { startLatencyProxyProcess } from '../lib/latency-proxy.js';
import { benchMongoBaseUri, dropDatabase, freshDatabaseName, withDatabase } from '../lib/mongo.js';
import { BENCH_JWT_SECRET, prepareOurServer, startOurServer, type ServerBuild } from '../lib/servers.js';
import { median } from '../lib/stats.js';

const { values: args } = parseArgs({ options: { 'delay-ms': { type: 'string', default: '10' }, n: { type: 'string', default: '7' }, ref: { type: 'string' } } });
const N = Number(args.n);
const READS = [
  ['GET /api/conversations/:id', '/api/conversations/d:ann:bob'],
  ['a history page', '/api/conversations/d:ann:bob/messages?limit=2'],
  ['GET /api/conversations', '/api/conversations'],
] as const;

const timed = async (action: () => Promise<unknown>) => {
  const t0 = performance.now();
  await action();
  return performance.now() - t0;
};

/** Median ms of each read, and of a ping, for one build on a fresh database behind `proxyPort`. */
async function measure(build: ServerBuild, base: string, proxyPort: number): Promise<{ ping: number; reads: number[] }> {
  const db = freshDatabaseName('bench_http_trips');
  const viaProxy = `${withDatabase(`mongodb://127.0.0.1:${proxyPort}/`, db)}?directConnection=true`;
  const server = await startOurServer(build, { dbUri: viaProxy, env: { DB_BATCH_MAX_WAIT_MS: '0' } });
  const client = await new MongoClient(viaProxy).connect();
  try {
    const url = `http://127.0.0.1:${server.port}`;
    const [ann, bob] = await Promise.all([signTestToken('ann', BENCH_JWT_SECRET), signTestToken('bob', BENCH_JWT_SECRET)]);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/api/messages`, { method: 'POST', headers: { authorization: `Bearer ${ann}`, 'content-type': 'application/json' }, body: JSON.stringify({ messageId: `m-${i}`, to: 'bob', body: 'hi' }) });
      if (res.status !== 201) throw new Error(`send: ${res.status} ${await res.text()}`);
    }
    const pings: number[] = [];
    for (let i = 0; i < N; i++) pings.push(await timed(() => client.db('admin').command({ ping: 1 })));
    const reads: number[] = [];
    for (const [, path] of READS) {
      const times: number[] = [];
      for (let i = 0; i < N; i++) {
        times.push(await timed(async () => {
          const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${bob}` } });
          if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
          await res.text();
        }));
      }
      reads.push(median(times));
    }
    return { ping: median(pings), reads };
  } finally {
    await client.close();
    await server.stop();
    await dropDatabase(base, db);
  }
}

async function main(): Promise<void> {
  const base = benchMongoBaseUri();
  const proxy = await startLatencyProxyProcess(new URL(base).host, Number(args['delay-ms']));
  try {
    const builds = [prepareOurServer({ fromSource: true }), ...(args.ref ? [prepareOurServer({ ref: args.ref })] : [])];
    const results: Awaited<ReturnType<typeof measure>>[] = [];
    for (const build of builds) results.push(await measure(build, base, proxy.port));
    console.log(`Through a ${args['delay-ms']} ms-each-way proxy, median of ${N}: ms (round trips = ms ÷ that build's median ping)\n`);
    console.log(`| read | ${builds.map((build) => build.label).join(' | ')} |\n| --- |${builds.map(() => ' ---: |').join('')}`);
    READS.forEach(([name], i) => console.log(`| ${name} | ${results.map(({ ping, reads }) => `${reads[i]!.toFixed(1)} (${(reads[i]! / ping).toFixed(2)})`).join(' | ')} |`));
    console.log(`| ping | ${results.map(({ ping }) => ping.toFixed(1)).join(' | ')} |`);
  } finally {
    await proxy.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
