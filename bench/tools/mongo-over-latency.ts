// MongoDB across a network (issue 16), without the MongoStore: the Mongo store is being rewritten on
// this branch and may not compile, so this measures what its batching is for, with the driver alone.
// The same N message documents from C closed-loop senders (each waits for its write), two ways:
//   one insertOne per message, and group commit (every sender's pending document in one insertMany,
//   one batch in flight, as the store's batcher does: up to maxOps, after at most maxWaitMs),
// directly against the server and through bench/lib/latency-proxy.ts (0.5 ms each way by default).
//
//   node --import tsx bench/tools/mongo-over-latency.ts [--n 3000] [--concurrency 64] [--delay-ms 0.5] [--max-wait-ms 2] [--max-ops 512]
//   env: BENCH_MONGO_URI (TEST_MONGO_URI, else mongodb://127.0.0.1:27017/)

import { MongoClient, type Collection } from 'mongodb';
import { Args } from '../lib/cli.js';
import { join } from 'node:path';
import { freePort, startServer } from '../lib/spawn.js';
import { machineInfo, machineLine } from '../lib/machine.js';
import { benchMongoBaseUri, dropDatabase, freshDatabaseName, probeMongo } from '../lib/mongo.js';
import { repoDir } from '../lib/servers.js';
import { Histogram } from '../lib/stats.js';

const args = new Args(process.argv.slice(2));
const N = args.num('n', 3000);
const C = args.num('concurrency', 64);
const delayMs = args.num('delay-ms', 0.5);
const maxWaitMs = args.num('max-wait-ms', 2);
const maxOps = args.num('max-ops', 512);
const BODY = 'x'.repeat(100);

interface Doc {
  _id: string;
  from: string;
  to: string;
  body: string;
  ts: number;
}
const doc = (run: string, i: number): Doc => ({ _id: `${run}-${i}`, from: `u${i % C}`, to: `r${i % 1000}`, body: BODY, ts: Date.now() });

/** Group commit: one insertMany of everything queued, one batch in flight. */
class GroupCommit {
  private queue: { d: Doc; done: (e?: unknown) => void }[] = [];
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  batches = 0;
  constructor(private readonly coll: Collection<Doc>) {}
  insert(d: Doc): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ d, done: (e) => (e ? reject(e) : resolve()) });
      if (this.queue.length >= maxOps) this.kick();
      else if (!this.timer && !this.busy) this.timer = setTimeout(() => this.kick(), maxWaitMs);
    });
  }
  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.busy || this.queue.length === 0) return;
    const batch = this.queue.splice(0, maxOps);
    this.busy = true;
    this.batches++;
    this.coll.insertMany(batch.map((b) => b.d), { ordered: false }).then(
      () => batch.forEach((b) => b.done()),
      (e: unknown) => batch.forEach((b) => b.done(e)),
    ).finally(() => {
      this.busy = false;
      // What queued while this batch was out goes at once: it has waited a round trip already.
      if (this.queue.length > 0) this.kick();
    });
  }
}

async function run(uri: string, label: string, mode: 'one' | 'group'): Promise<{ label: string; mode: string; msgsPerSec: number; p50: number; p99: number; batches: number }> {
  const db = freshDatabaseName('bench_lat');
  const client = new MongoClient(uri, { maxPoolSize: C + 4, directConnection: true });
  await client.connect();
  try {
    const coll = client.db(db).collection<Doc>('messages');
    await coll.insertOne(doc('warm', 0));
    const gc = new GroupCommit(coll);
    const h = new Histogram();
    const run = Math.random().toString(36).slice(2, 8);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: C }, async () => {
        for (let i = next++; i < N; i = next++) {
          const t = performance.now();
          if (mode === 'one') await coll.insertOne(doc(run, i));
          else await gc.insert(doc(run, i));
          h.recordMs(performance.now() - t);
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    const sum = h.summary();
    return { label, mode: mode === 'one' ? 'one insertOne per message' : `group commit (insertMany, ≤ ${maxOps}, ≤ ${maxWaitMs} ms wait)`, msgsPerSec: Math.round(N / s), p50: sum.p50Ms, p99: sum.p99Ms, batches: gc.batches };
  } finally {
    await client.close();
    await dropDatabase(uri, db).catch(() => {});
  }
}

const base = benchMongoBaseUri();
const why = await probeMongo(base);
if (why !== undefined) {
  console.error(`MongoDB not usable at ${base}: ${why}`);
  process.exit(1);
}
const target = new URL(base).host;
// The proxy in its own process (its CLI), as a network hop would be: its sub-millisecond spinning must
// not share this process's event loop with the senders.
const proxyPort = await freePort();
const proxy = await startServer({
  command: process.execPath,
  args: ['--import', 'tsx', join(repoDir, 'bench', 'lib', 'latency-proxy.ts'), '--target', target, '--listen', `127.0.0.1:${proxyPort}`, '--delay-ms', String(delayMs)],
  cwd: repoDir,
  port: proxyPort,
});
const proxied = base.replace(target, `127.0.0.1:${proxyPort}`);
const rows = [];
try {
  for (const [uri, label] of [[base, 'direct (loopback)'], [proxied, `through the proxy, ${delayMs} ms each way`]] as const) {
    for (const mode of ['one', 'group'] as const) {
      process.stderr.write(`${label}: ${mode} …\n`);
      rows.push(await run(uri, label, mode));
    }
  }
} finally {
  await proxy.stop();
}
console.log(`# Mongo writes over added latency (driver only), N=${N}, C=${C} senders\n\n${machineLine(machineInfo(repoDir))}\n`);
console.log('| path | writes | msgs/s | p50 / p99 ms | batches | group ÷ one |');
console.log('| --- | --- | ---: | --- | ---: | ---: |');
for (const r of rows) {
  const one = rows.find((x) => x.label === r.label && x.mode.startsWith('one'))!;
  console.log(`| ${r.label} | ${r.mode} | ${r.msgsPerSec} | ${r.p50} / ${r.p99} | ${r.batches || '—'} | ${r.mode.startsWith('one') ? '' : `${(r.msgsPerSec / one.msgsPerSec).toFixed(1)}×`} |`);
}
process.exit(0);
