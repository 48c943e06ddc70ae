// What one reconnect's replayTargets (with --read pages, its whole replay read: the targets, then every
// conversation's page through the replay merge; with --read list, one GET /api/conversations page:
// listConversations) costs the server on the MongoStore for a user in G conversations: the process's
// CPU per call and its wall time, with the query shapes used on FerretDB (`each`: one indexed read per
// conversation) and on MongoDB (`in`: one `$or` query per 256 conversations), side by side on the same
// data. The database's own time is FerretDB's here (it scans for the `$or`, where MongoDB walks one
// index range per clause): read the CPU column, which is this process's.
//
//   node --import tsx bench/tools/replay-targets-cost.ts [--read replay|pages|list] [--conversations 20] [--users 20] [--calls 200] [--delay-ms 0]
//
// A list call asks for a page of 20; every conversation has one message unread, so each item of the
// page also counts its unread (one count each, in both shapes).
//
// --delay-ms puts bench/lib/latency-proxy.ts (its own process) in front of the database, D ms each way.
// Needs the MongoDB-wire server of BENCH_MONGO_URI (else TEST_MONGO_URI, else 127.0.0.1:27017).
import { parseArgs } from 'node:util';
import { startLatencyProxyProcess } from '../lib/latency-proxy.js';
import { benchMongoBaseUri, dropDatabase, freshDatabaseName, withDatabase } from '../lib/mongo.js';
import { median } from '../lib/stats.js';
import { ReplayMerge } from '../../src/chat/replay-merge.js';
import { MongoStore } from '../../src/store/mongo/mongo-store.js';
import type { IdLookup } from '../../src/store/mongo/find-by-ids.js';

const { values: args } = parseArgs({ options: { read: { type: 'string', default: 'replay' }, conversations: { type: 'string', default: '20' }, users: { type: 'string', default: '20' }, calls: { type: 'string', default: '200' }, 'delay-ms': { type: 'string', default: '0' } } });
const G = Number(args.conversations);
const U = Number(args.users);
const CALLS = Number(args.calls);
const DELAY_MS = Number(args['delay-ms']);
const LIST = args.read === 'list';
const PAGES = args.read === 'pages';
if (!LIST && !PAGES && args.read !== 'replay') throw new Error('--read is replay, pages or list');
const PAGE = 20;

/** The replay's reads as replay.ts makes them: the targets, then the merge's pages (REPLAY_PAGE_SIZE 500 over G conversations). */
async function replayRead(store: MongoStore, userId: string): Promise<number> {
  const targets = await store.replayTargets(userId, 'phone');
  const merge = new ReplayMerge(store, targets, Math.min(500, Math.max(20, Math.ceil(500 / Math.max(1, targets.length)))), () => false);
  let messages = 0;
  while (await merge.next()) messages++;
  return messages;
}

/** The call measured, and how many items (targets, messages or list items) it must answer. */
const call = async (store: MongoStore, userId: string): Promise<number> =>
  LIST ? (await store.listConversations(userId, PAGE, undefined)).items.length : PAGES ? replayRead(store, userId) : (await store.replayTargets(userId, 'phone')).length;
const EXPECTED = LIST ? Math.min(PAGE, G) : G;

const open = async (uri: string, idLookup: IdLookup) => {
  const store = new MongoStore({ uri, opTimeoutMs: 30_000, batch: { maxWaitMs: 0, maxOps: 512 }, cursorCacheMax: 100_000, idLookup });
  await store.start();
  return store;
};

async function main(): Promise<void> {
  const base = benchMongoBaseUri();
  const db = freshDatabaseName('bench_replay_targets');
  const proxy = DELAY_MS > 0 ? await startLatencyProxyProcess(new URL(base).host, DELAY_MS) : undefined;
  const storeBase = proxy ? `mongodb://127.0.0.1:${proxy.port}/` : base;
  try {
    // Each user in G groups, each group with one message from its owner: every group is a target.
    const setup = await open(withDatabase(base, db), 'each');
    for (let g = 0; g < G; g++) {
      const conversationId = `g:bench-${g}`;
      await setup.createGroup({ conversationId, title: `g${g}`, ownerId: `owner${g}`, members: Array.from({ length: U }, (_, u) => `user${u}`), createdAt: Date.now() });
      await setup.persist({ messageId: `m-${g}`, conversationId, from: `owner${g}`, body: 'hello', ts: Date.now() });
    }
    for (let u = 0; u < U; u++) await setup.replayTargets(`user${u}`, 'phone'); // first sight of every device
    await setup.close();
    console.log(`${LIST ? `listConversations (a page of ${PAGE})` : PAGES ? 'replayTargets and the replay merge\'s pages' : 'replayTargets'} of a user in ${G} conversations (each with a message pending), ${U} users, ${CALLS} calls per round${proxy ? `, through a ${DELAY_MS} ms-each-way proxy` : ''}`);
    console.log(`\n| shape | round | server CPU per call | wall per call (median) | ${LIST ? 'items' : PAGES ? 'messages' : 'targets'} |\n| --- | ---: | ---: | ---: | ---: |`);
    for (let round = 1; round <= 2; round++) {
      for (const shape of ['each', 'in'] as const) {
        const store = await open(withDatabase(storeBase, db), shape);
        for (let i = 0; i < 20; i++) await call(store, `user${i % U}`); // warm the JIT (and, for a list, the heads)
        const walls: number[] = [];
        let targets = 0;
        const cpu0 = process.cpuUsage();
        for (let i = 0; i < CALLS; i++) {
          const t0 = performance.now();
          targets = await call(store, `user${i % U}`);
          walls.push(performance.now() - t0);
        }
        const cpu = process.cpuUsage(cpu0);
        await store.close();
        if (targets !== EXPECTED) throw new Error(`${shape}: ${targets} answered, expected ${EXPECTED}`);
        console.log(`| ${shape === 'each' ? `FerretDB shape: ${LIST ? 'reads and counts' : PAGES ? 'two reads' : 'one read'} per conversation` : LIST ? "MongoDB's shape: $or, $in and one aggregate" : PAGES ? "MongoDB's shape: one $or for the targets, one for the pages" : "MongoDB's shape: one $or query"} | ${round} | ${((cpu.user + cpu.system) / CALLS / 1000).toFixed(2)} ms | ${median(walls).toFixed(2)} ms | ${targets} |`);
      }
    }
  } finally {
    await proxy?.stop();
    await dropDatabase(base, db);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
