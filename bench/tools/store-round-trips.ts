// How many round trips to the database one send (direct, the first to a new contact, and into a group) and one confirmation (of a
// message stored here, or by another instance) wait for, one after another, on
// the MongoStore: what their latency over a network is made of (issue 16, "MongoDB across a network").
// Each persist and each confirmIds runs alone (nothing else in its batch) through the latency proxy
// with a large delay, so the database's own time is small beside the round trips even on FerretDB:
//
//   node --import tsx bench/tools/store-round-trips.ts [--delay-ms 10] [--n 20] [--ref REF]
//
// Round trips ≈ median latency / the median `ping` through the same proxy (a round trip plus the
// server's time for a trivial command: FerretDB's own time per command is a few ms, so dividing by
// 2 × delay alone would overcount). --ref measures a git ref's store in
// the same run (compiled as `paced.ts --compare` compiles it), alternating with this tree's. Needs the
// MongoDB-wire server of BENCH_MONGO_URI (else TEST_MONGO_URI, else 127.0.0.1:27017).
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startLatencyProxy } from '../lib/latency-proxy.js';
import { MongoClient } from 'mongodb';
import { prepareOurServer } from '../lib/servers.js';
import { median } from '../lib/stats.js';
import { benchMongoBaseUri, dropDatabase, freshDatabaseName, withDatabase } from '../lib/mongo.js';

const { values: args } = parseArgs({ options: { 'delay-ms': { type: 'string', default: '10' }, n: { type: 'string', default: '20' }, ref: { type: 'string' } } });
const DELAY_MS = Number(args['delay-ms']);
const N = Number(args.n);
/** No batch wait: a lone write goes at once. */
const WAIT_MS = 0;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The parts of a build this tool uses: this tree's src/, or a ref's compiled dist/. */
interface Build {
  readonly label: string;
  readonly config: typeof import('../../src/config.js');
  readonly log: typeof import('../../src/log.js');
  readonly metrics: typeof import('../../src/metrics/registry.js');
  readonly stores: typeof import('../../src/store/open-stores.js');
}

async function loadBuild(label: string, dir: string, ext: string): Promise<Build> {
  const load = (path: string) => import(pathToFileURL(join(dir, `${path}.${ext}`)).href);
  return { label, config: await load('config'), log: await load('log'), metrics: await load('metrics/registry'), stores: await load('store/open-stores') };
}

/** Median ms of N persists, then of N confirmations, each alone, on a fresh database. */
async function measure(build: Build, storeBase: string, directBase: string): Promise<{ persist: number; first: number; group: number; confirm: number; remote: number; learned: number }> {
  const db = freshDatabaseName('bench_round_trips');
  const { config } = build.config.loadConfig({
    NODE_ENV: 'development',
    JWT_SECRET: 'bench-round-trips-unused-0123456789abcdef',
    DB_URI: withDatabase(storeBase, db),
    DB_OP_TIMEOUT_MS: '30000',
    DB_BATCH_MAX_WAIT_MS: String(WAIT_MS),
  });
  const { store } = build.stores.openStores(config, build.log.silentLogger(), build.metrics.createMetrics());
  // Another instance on the same database, without the proxy: it stores what `store` then confirms.
  const { config: otherConfig } = build.config.loadConfig({ NODE_ENV: 'development', JWT_SECRET: 'bench-round-trips-unused-0123456789abcdef', DB_URI: withDatabase(directBase, db), DB_OP_TIMEOUT_MS: '30000', DB_BATCH_MAX_WAIT_MS: String(WAIT_MS) });
  const { store: other } = build.stores.openStores(otherConfig, build.log.silentLogger(), build.metrics.createMetrics());
  try {
    await store.start();
    await other.start();
    const message = (i: number) => ({ messageId: `rt-${i}`, from: 'alice', fromDevice: 'phone', to: 'bob', body: 'hello', ts: Date.now() });
    // Warm: the conversation exists, both devices were seen, heads and facts are cached.
    for (let i = 0; i < 3; i++) await store.persist(message(i));
    await store.confirmIds('bob', 'laptop', ['rt-0', 'rt-1', 'rt-2']);
    const persist: number[] = [];
    const confirm: number[] = [];
    for (let i = 3; i < 3 + N; i++) {
      const t0 = performance.now();
      const result = await store.persist(message(i));
      persist.push(performance.now() - t0);
      if (result.kind !== 'created') throw new Error(`persist ${i}: ${result.kind}`);
    }
    for (let i = 3; i < 3 + N; i++) {
      const t0 = performance.now();
      const result = await store.confirmIds('bob', 'laptop', [`rt-${i}`]);
      confirm.push(performance.now() - t0);
      if (result.marks.length !== 1) throw new Error(`confirm ${i}: ${result.marks.length} marks`);
    }
    // The first message to a new contact: the direct conversation and both memberships are created.
    const first: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const result = await store.persist({ ...message(i), messageId: `rt-first-${i}`, to: `new-contact-${i}` });
      first.push(performance.now() - t0);
      if (result.kind !== 'created' || result.message.seq !== 1) throw new Error(`first persist ${i}: ${result.kind}`);
    }
    // A group message is named by its conversation id: its member count is read too.
    const groupId = 'g:round-trips';
    await store.createGroup({ conversationId: groupId, title: 'round trips', ownerId: 'alice', members: ['bob', 'carol'], createdAt: Date.now() });
    const group: number[] = [];
    for (let i = 0; i < 2 + N; i++) {
      const t0 = performance.now();
      const result = await store.persist({ messageId: `rt-g-${i}`, conversationId: groupId, from: 'alice', fromDevice: 'phone', body: 'hello all', ts: Date.now() });
      if (i >= 2) group.push(performance.now() - t0); // the first two warm the group's head
      if (result.kind !== 'created') throw new Error(`group persist ${i}: ${result.kind}`);
    }
    // Confirming a message another instance stored: not known here (its facts are read first), or
    // learned from the live bus as the server does (Store.learn; a build without it reads them).
    const remote: number[] = [];
    const learned: number[] = [];
    for (let i = 0; i < 2 * N; i++) {
      const result = await other.persist({ ...message(1000 + i), messageId: `rt-other-${i}` });
      if (result.kind !== 'created') throw new Error(`other persist ${i}: ${result.kind}`);
      if (i % 2 === 1) (store as { learn?(message: unknown): void }).learn?.(result.message);
      const t0 = performance.now();
      const confirmed = await store.confirmIds('bob', 'laptop', [`rt-other-${i}`]);
      (i % 2 === 1 ? learned : remote).push(performance.now() - t0);
      if (confirmed.marks.length !== 1) throw new Error(`confirm other ${i}: ${confirmed.marks.length} marks`);
    }
    return { persist: median(persist), first: median(first), group: median(group), confirm: median(confirm), remote: median(remote), learned: median(learned) };
  } finally {
    await other.close();
    await store.close();
    await dropDatabase(benchMongoBaseUri(), db);
  }
}

async function main(): Promise<void> {
  const target = new URL(benchMongoBaseUri());
  const proxy = await startLatencyProxy({ target: target.host, delayMs: DELAY_MS });
  const storeBase = `mongodb://127.0.0.1:${proxy.port}/`;
  const builds = [await loadBuild('this tree', join(ROOT, 'src'), 'ts')];
  if (args.ref) builds.push(await loadBuild(args.ref, dirname(prepareOurServer({ ref: args.ref }).entry), 'js'));
  const client = await new MongoClient(storeBase, { directConnection: true }).connect();
  const pings: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await client.db('admin').command({ ping: 1 });
    pings.push(performance.now() - t0);
  }
  await client.close();
  const trip = median(pings);
  console.log(`MongoStore through a latency proxy, ${DELAY_MS} ms each way (a round trip ≥ ${2 * DELAY_MS} ms), to ${target.host}; DB_BATCH_MAX_WAIT_MS=${WAIT_MS}; median of ${N}, each alone; one \`ping\` ${trip.toFixed(1)} ms`);
  console.log('\n| build | round | persist | first persist to a new contact | group persist | confirmIds | confirmIds, stored by another instance | the same, learned from the bus |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  try {
    for (let round = 1; round <= 2; round++) {
      for (const build of builds) {
        const { persist, first, group, confirm, remote, learned } = await measure(build, storeBase, target.href);
        const trips = (ms: number) => (ms / trip).toFixed(1);
        const cell = (ms: number) => `${ms.toFixed(1)} ms, ${trips(ms)}`;
        console.log(`| ${build.label} | ${round} | ${cell(persist)} | ${cell(first)} | ${cell(group)} | ${cell(confirm)} | ${cell(remote)} | ${cell(learned)} |`);
      }
    }
  } finally {
    await proxy.close();
  }
}

await main();
