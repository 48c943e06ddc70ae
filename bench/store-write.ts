// Store writes: the same N messages through the batched MongoStore (DB-first, group commit) and
// through one insertOne per message, from C concurrent senders, against the same server.
//
//   node --import tsx bench/store-write.ts
//   env: BENCH_MONGO_URI (TEST_MONGO_URI, else mongodb://127.0.0.1:27017/), STORE_N (20000),
//        STORE_CONCURRENCY (64), STORE_WARMUP (1000), DB_BATCH_MAX_WAIT_MS (2), DB_BATCH_MAX_OPS (512),
//        STORE_PROXY_MS (unset): every row goes through bench/lib/latency-proxy.ts, in its own process,
//        adding this one-way delay in each direction (0.5: MongoDB across a network in one region)
//
// Each run uses a fresh database (dropped at the end). The headline baseline writes only the message
// document; the v2 store also advances the conversation's seq counter for each message (it assigns
// `seq`), so a third row writes both, unbatched, for a like-for-like ratio. A fourth row sends the same
// N messages from C members into one group of RECIPIENTS members (one seq counter for all, O(1)
// documents per message whatever the group size). The direct rows write into conversations the warm-up
// created (each sender has CONTACTS of them), as most messages of a chat do; a fifth row sends every
// message to a new contact, which creates its direct conversation and both memberships first. With C closed-loop senders a batch holds at most
// C messages. Results: bench/RESULTS.md ("Store writes").
//
// The store is opened the way the server opens it (loadConfig + openStores on DB_URI), so the bench
// follows MongoStore's options and sees it through the Store interface only.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics/registry.js';
import { directConversationId } from '../src/store/conversation-ids.js';
import { openStores } from '../src/store/open-stores.js';
import type { NewMessage, Store } from '../src/store/store.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { startLatencyProxyProcess } from './lib/latency-proxy.js';
import { Histogram } from './lib/stats.js';

const uri = process.env.BENCH_MONGO_URI ?? process.env.TEST_MONGO_URI ?? 'mongodb://127.0.0.1:27017/';
const N = Number(process.env.STORE_N ?? 20_000);
const C = Number(process.env.STORE_CONCURRENCY ?? 64);
const WARMUP = Number(process.env.STORE_WARMUP ?? 1000);
const maxWaitMs = Number(process.env.DB_BATCH_MAX_WAIT_MS ?? 2);
const maxOps = Number(process.env.DB_BATCH_MAX_OPS ?? 512);
const proxyMs = process.env.STORE_PROXY_MS === undefined ? undefined : Number(process.env.STORE_PROXY_MS);
const RECIPIENTS = 1000;
/** Direct conversations per sender: C × CONTACTS in all, each created in the warm-up. */
const CONTACTS = 4;
const BODY = 'x'.repeat(100);

interface Outcome {
  readonly name: string;
  readonly msgsPerSec: number;
  readonly seconds: number;
  readonly latency: ReturnType<Histogram['summary']>;
  readonly extra: string;
}

/** A direct message (v1 `to`) to one of the sender's CONTACTS; the store derives its conversation and assigns its seq. */
const message = (run: string, i: number): NewMessage & { to: string } => ({ messageId: `${run}-${i}`, from: `s${i % C}`, to: `r${(i % C) * CONTACTS + (Math.floor(i / C) % CONTACTS)}`, body: BODY, ts: Date.now() });
/** The first message to a new contact: its direct conversation and memberships are created with it. */
const firstMessage = (run: string, i: number): NewMessage => ({ messageId: `${run}-${i}`, from: `s${i % C}`, to: `${run}-contact-${i}`, body: BODY, ts: Date.now() });
/** The same message into a group (no `to`). */
const groupMessage = (run: string, i: number, conversationId: string): NewMessage => ({ messageId: `${run}-${i}`, conversationId, from: `s${i % C}`, body: BODY, ts: Date.now() });

/** MongoStore as the server builds it (config from the environment this script documents). */
function openMongoStore(baseUri: string, dbName: string, metrics: ReturnType<typeof createMetrics>): Store {
  const url = new URL(baseUri);
  url.pathname = `/${dbName}`;
  const { config } = loadConfig({
    NODE_ENV: 'development',
    JWT_SECRET: 'bench-store-write-unused-0123456789abcdef',
    DB_URI: url.toString(),
    DB_OP_TIMEOUT_MS: '30000',
    DB_BATCH_MAX_WAIT_MS: String(maxWaitMs),
    DB_BATCH_MAX_OPS: String(maxOps),
    DB_BATCH_MAX_OPS_PER_USER: String(maxOps),
    CURSOR_CACHE_MAX: '100000',
  });
  return openStores(config, silentLogger(), metrics).store;
}

/** C senders, each waiting for its previous write: `write(i)` for i in [from, to). */
async function drive(from: number, to: number, write: (i: number) => Promise<unknown>, latency?: Histogram, concurrency = C): Promise<number> {
  let next = from;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
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

/** `group`: the C senders are members of one group of RECIPIENTS members and all send into it; `first`: every message to a new contact. */
async function batched(baseUri: string, dbName: string, shape: 'direct' | 'group' | 'first' = 'direct'): Promise<Outcome> {
  const group = shape === 'group';
  const metrics = createMetrics({ collectDefault: false });
  const store = openMongoStore(baseUri, dbName, metrics);
  await store.start();
  const run = randomUUID().slice(0, 8);
  let make = message as (run: string, i: number) => NewMessage;
  if (group) {
    const members = [...Array.from({ length: C }, (_, k) => `s${k}`), ...Array.from({ length: RECIPIENTS - C }, (_, k) => `r${k}`)];
    const { conversation } = await store.createGroup({ conversationId: `g:bench-${run}`, title: 'bench', ownerId: 's0', members, createdAt: Date.now() });
    make = (r, i) => groupMessage(r, i, conversation.conversationId);
  }
  if (shape === 'first') make = firstMessage;
  // The direct row's warm-up creates every conversation it writes to.
  await drive(0, shape === 'direct' ? Math.max(WARMUP, C * CONTACTS) : WARMUP, async (i) => store.persist(make(`w${run}`, i)));
  const before = await batchStats(metrics);
  const latency = new Histogram();
  const seconds = await drive(0, N, async (i) => {
    const result = await store.persist(make(run, i));
    if (result.kind !== 'created') throw new Error(`unexpected ${result.kind}`);
  }, latency);
  const after = await batchStats(metrics);
  await store.close();
  const batches = after.count - before.count;
  return {
    name: {
      direct: `batched MongoStore, ${C * CONTACTS} direct conversations (wait ${maxWaitMs} ms, max ${maxOps})`,
      group: `batched MongoStore, one group of ${RECIPIENTS} (wait ${maxWaitMs} ms, max ${maxOps})`,
      first: `batched MongoStore, every message to a new contact (wait ${maxWaitMs} ms, max ${maxOps})`,
    }[shape],
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
    // The seq is only a number here: no counter is kept (that is the next row).
    return messages.insertOne({ _id: m.messageId, from: m.from, to: m.to, body: m.body, ts: m.ts, seq: i + 1 });
  };
  await drive(0, WARMUP, (i) => insert(`w${run}`, i));
  const latency = new Histogram();
  const seconds = await drive(0, N, (i) => insert(run, i), latency);
  return { name: 'one insertOne per message', msgsPerSec: N / seconds, seconds, latency: latency.summary(), extra: 'message document only' };
}

/**
 * On FerretDB v1 a findAndModify holds a PostgreSQL connection for its query while it waits for a
 * second one for its update: with more of them at once than half its pool (FERRETDB_PG_POOL, 20 in
 * scripts/mongo-test-server.sh), each waits for a connection another holds, and none ever ends (seen:
 * 64 at once wedged the server, a ping included). So that row runs at most this many at a time there.
 */
const FERRETDB_FIND_AND_MODIFY_CONCURRENCY = 8;

/** Like for like: what an unbatched v2 store writes per message (the conversation's seq counter, then the message). */
async function unbatchedWithCounter(client: MongoClient, dbName: string, concurrency: number): Promise<Outcome> {
  const db = client.db(dbName);
  const messages = db.collection<{ _id: string; conversationId: string; from: string; to: string; body: string; ts: number; seq: number }>('messages');
  const counters = db.collection<{ _id: string; lastSeq: number }>('conversations');
  const run = randomUUID().slice(0, 8);
  const write = async (id: string, i: number) => {
    const m = message(id, i);
    const conversationId = directConversationId(m.from, m.to);
    const counter = await counters.findOneAndUpdate({ _id: conversationId }, { $inc: { lastSeq: 1 } }, { upsert: true, returnDocument: 'after' });
    await messages.insertOne({ _id: m.messageId, conversationId, from: m.from, to: m.to, body: m.body, ts: m.ts, seq: counter?.lastSeq ?? 0 });
  };
  await drive(0, WARMUP, (i) => write(`w${run}`, i), undefined, concurrency);
  const latency = new Histogram();
  const seconds = await drive(0, N, (i) => write(run, i), latency, concurrency);
  const capped = concurrency < C ? `; ${concurrency} at a time, not ${C} (FerretDB v1's findAndModify deadlocks past half its pool)` : '';
  return { name: 'two writes per message (seq counter $inc + message insertOne)', msgsPerSec: N / seconds, seconds, latency: latency.summary(), extra: `what the batched store writes, unbatched${capped}` };
}

async function batchStats(metrics: ReturnType<typeof createMetrics>): Promise<{ count: number }> {
  const values = (await metrics.storeBatchSize.get()).values;
  return { count: values.find((v) => v.metricName === 'chat_store_batch_size_count' && v.labels.op === 'persist')?.value ?? 0 };
}

async function main(): Promise<void> {
  const target = new URL(uri);
  const proxy = proxyMs === undefined ? undefined : await startLatencyProxyProcess(target.host, proxyMs);
  try {
    await measure(proxy ? `mongodb://127.0.0.1:${proxy.port}/` : uri, proxy ? ` · through a latency proxy, ${proxyMs} ms each way` : '');
  } finally {
    await proxy?.stop();
  }
}

async function measure(storeUri: string, via: string): Promise<void> {
  const client = new MongoClient(storeUri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  const info = await client.db('admin').command({ buildInfo: 1 });
  const ferretdb = info.ferretdbVersion !== undefined;
  const server = ferretdb ? `FerretDB (reports MongoDB ${info.version})` : `MongoDB ${info.version}`;
  const names = [`bench_store_b_${Date.now()}`, `bench_store_u_${Date.now()}`, `bench_store_v_${Date.now()}`, `bench_store_g_${Date.now()}`, `bench_store_f_${Date.now()}`];
  console.log(machineLine(machineInfo(fileURLToPath(new URL('..', import.meta.url)))));
  console.log(`server: ${server} at ${storeUri.replace(/\/\/[^@/]*@/, '//')} · N=${N} · ${C} concurrent senders · warmup ${WARMUP} · body ${BODY.length} B · ${RECIPIENTS} recipients${via}`);
  try {
    const [direct, single, counter, group, first] = [
      await batched(storeUri, names[0]!),
      await unbatched(client, names[1]!),
      await unbatchedWithCounter(client, names[2]!, ferretdb ? Math.min(C, FERRETDB_FIND_AND_MODIFY_CONCURRENCY) : C),
      await batched(storeUri, names[3]!, 'group'),
      await batched(storeUri, names[4]!, 'first'),
    ];
    console.log('');
    console.log('| writer | msgs/s | p50 ms | p99 ms | notes |');
    console.log('| --- | ---: | ---: | ---: | --- |');
    for (const r of [direct, single, counter, group, first]) {
      console.log(`| ${r.name} | ${Math.round(r.msgsPerSec)} | ${r.latency.p50Ms} | ${r.latency.p99Ms} | ${r.extra}; ${r.seconds.toFixed(2)} s |`);
    }
    console.log('');
    console.log(`ratio batched / one insertOne per message: ${(direct.msgsPerSec / single.msgsPerSec).toFixed(1)}x`);
    console.log(`ratio batched / two writes per message (like for like): ${(direct.msgsPerSec / counter.msgsPerSec).toFixed(1)}x`);
    console.log(`ratio batched one group / batched direct: ${(group.msgsPerSec / direct.msgsPerSec).toFixed(2)}x`);
    console.log(`ratio batched first messages / batched direct: ${(first.msgsPerSec / direct.msgsPerSec).toFixed(2)}x`);
  } finally {
    for (const name of names) await client.db(name).dropDatabase().catch(() => {});
    await client.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
