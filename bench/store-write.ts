// Store writes: the same N messages through the batched MongoStore (DB-first, group commit) and
// through one insertOne per message, from C concurrent senders, against the same server.
//
//   node --import tsx bench/store-write.ts
//   env: BENCH_MONGO_URI (TEST_MONGO_URI, else mongodb://127.0.0.1:27017/), STORE_N (20000),
//        STORE_CONCURRENCY (64), STORE_WARMUP (1000), DB_BATCH_MAX_WAIT_MS (2), DB_BATCH_MAX_OPS (512)
//
// Each run uses a fresh database (dropped at the end). The headline baseline writes only the message
// document; the batched store also writes each message's delivery entry, so a third row writes both,
// unbatched, for a like-for-like ratio. With C closed-loop senders a batch holds at most C messages.
// Results: bench/RESULTS.md ("Store writes").
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { createMetrics } from '../src/metrics/registry.js';
import { MongoStore } from '../src/store/mongo/mongo-store.js';
import { SortKeyClock } from '../src/store/sort-key.js';
import type { NewMessage } from '../src/store/store.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { Histogram } from './lib/stats.js';

const uri = process.env.BENCH_MONGO_URI ?? process.env.TEST_MONGO_URI ?? 'mongodb://127.0.0.1:27017/';
const N = Number(process.env.STORE_N ?? 20_000);
const C = Number(process.env.STORE_CONCURRENCY ?? 64);
const WARMUP = Number(process.env.STORE_WARMUP ?? 1000);
const maxWaitMs = Number(process.env.DB_BATCH_MAX_WAIT_MS ?? 2);
const maxOps = Number(process.env.DB_BATCH_MAX_OPS ?? 512);
const RECIPIENTS = 1000;
const BODY = 'x'.repeat(100);

interface Outcome {
  readonly name: string;
  readonly msgsPerSec: number;
  readonly seconds: number;
  readonly latency: ReturnType<Histogram['summary']>;
  readonly extra: string;
}

const clock = new SortKeyClock();
const message = (run: string, i: number): NewMessage => {
  const seq = clock.next();
  return { messageId: `${run}-${i}`, from: `s${i % C}`, to: `r${i % RECIPIENTS}`, body: BODY, ts: Date.now(), seq };
};

/** C senders, each waiting for its previous write: `write(i)` for i in [from, to). */
async function drive(from: number, to: number, write: (i: number) => Promise<unknown>, latency?: Histogram): Promise<number> {
  let next = from;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < to) {
        const i = next++;
        const t0 = performance.now();
        await write(i);
        latency?.recordMs(performance.now() - t0);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

async function batched(baseUri: string, dbName: string): Promise<Outcome> {
  const metrics = createMetrics({ collectDefault: false });
  const url = new URL(baseUri);
  url.pathname = `/${dbName}`;
  const store = new MongoStore({ uri: url.toString(), opTimeoutMs: 30_000, batch: { maxWaitMs, maxOps }, cursorCacheMax: 100_000, metrics, startRetry: { attempts: 3 } });
  await store.start();
  const run = randomUUID().slice(0, 8);
  await drive(0, WARMUP, (i) => store.persist(message(`w${run}`, i)));
  const before = await batchStats(metrics);
  const latency = new Histogram();
  const seconds = await drive(0, N, async (i) => {
    const result = await store.persist(message(run, i));
    if (result.kind !== 'created') throw new Error(`unexpected ${result.kind}`);
  }, latency);
  const after = await batchStats(metrics);
  await store.close();
  const batches = after.count - before.count;
  return {
    name: `batched MongoStore (wait ${maxWaitMs} ms, max ${maxOps})`,
    msgsPerSec: N / seconds,
    seconds,
    latency: latency.summary(),
    extra: `${batches} batches, mean ${(N / batches).toFixed(1)} msgs/batch`,
  };
}

async function unbatched(client: MongoClient, dbName: string): Promise<Outcome> {
  const messages = client.db(dbName).collection<{ _id: string; from: string; to: string; body: string; ts: number; seq: number }>('messages');
  const run = randomUUID().slice(0, 8);
  const insert = (id: string, i: number) => {
    const m = message(id, i);
    return messages.insertOne({ _id: m.messageId, from: m.from, to: m.to, body: m.body, ts: m.ts, seq: m.seq });
  };
  await drive(0, WARMUP, (i) => insert(`w${run}`, i));
  const latency = new Histogram();
  const seconds = await drive(0, N, (i) => insert(run, i), latency);
  return { name: 'one insertOne per message', msgsPerSec: N / seconds, seconds, latency: latency.summary(), extra: 'message document only' };
}

/** Like for like: what an unbatched store writes per message (the message, then its delivery entry). */
async function unbatchedWithEntry(client: MongoClient, dbName: string): Promise<Outcome> {
  const db = client.db(dbName);
  const messages = db.collection<{ _id: string; from: string; to: string; body: string; ts: number; seq: number }>('messages');
  const deliveries = db.collection<{ _id: string; messageId: string; to: string; from: string; ts: number; seq: number; status: string; marks: number }>('deliveries');
  const run = randomUUID().slice(0, 8);
  const write = async (id: string, i: number) => {
    const m = message(id, i);
    await messages.insertOne({ _id: m.messageId, from: m.from, to: m.to, body: m.body, ts: m.ts, seq: m.seq });
    await deliveries.insertOne({ _id: `${m.to}/${m.messageId}`, messageId: m.messageId, to: m.to, from: m.from, ts: m.ts, seq: m.seq, status: 'pending', marks: 0 });
  };
  await drive(0, WARMUP, (i) => write(`w${run}`, i));
  const latency = new Histogram();
  const seconds = await drive(0, N, (i) => write(run, i), latency);
  return { name: 'two insertOne per message (message + delivery entry)', msgsPerSec: N / seconds, seconds, latency: latency.summary(), extra: 'what the batched store writes, unbatched' };
}

async function batchStats(metrics: ReturnType<typeof createMetrics>): Promise<{ count: number }> {
  const values = (await metrics.storeBatchSize.get()).values;
  return { count: values.find((v) => v.metricName === 'chat_store_batch_size_count' && v.labels.op === 'persist')?.value ?? 0 };
}

async function main(): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  const info = await client.db('admin').command({ buildInfo: 1 });
  const server = info.ferretdbVersion !== undefined ? `FerretDB (reports MongoDB ${info.version})` : `MongoDB ${info.version}`;
  const names = [`bench_store_b_${Date.now()}`, `bench_store_u_${Date.now()}`, `bench_store_v_${Date.now()}`];
  console.log(machineLine(machineInfo(fileURLToPath(new URL('..', import.meta.url)))));
  console.log(`server: ${server} at ${uri.replace(/\/\/[^@/]*@/, '//')} · N=${N} · ${C} concurrent senders · warmup ${WARMUP} · body ${BODY.length} B · ${RECIPIENTS} recipients`);
  try {
    const results = [await batched(uri, names[0]!), await unbatched(client, names[1]!), await unbatchedWithEntry(client, names[2]!)];
    console.log('');
    console.log('| writer | msgs/s | p50 ms | p99 ms | notes |');
    console.log('| --- | ---: | ---: | ---: | --- |');
    for (const r of results) {
      console.log(`| ${r.name} | ${Math.round(r.msgsPerSec)} | ${r.latency.p50Ms} | ${r.latency.p99Ms} | ${r.extra}; ${r.seconds.toFixed(2)} s |`);
    }
    console.log('');
    console.log(`ratio batched / one insertOne per message: ${(results[0]!.msgsPerSec / results[1]!.msgsPerSec).toFixed(1)}x`);
    console.log(`ratio batched / two insertOne per message (like for like): ${(results[0]!.msgsPerSec / results[2]!.msgsPerSec).toFixed(1)}x`);
  } finally {
    for (const name of names) await client.db(name).dropDatabase().catch(() => {});
    await client.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
