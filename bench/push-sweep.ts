// The offline-push sender's throughput on one instance: N stored messages, each to a recipient who is
// offline, already older than PUSH_AFTER_MS when the PushService starts; how long until a local
// receiver (node:http, answering 200) has every notification, and the process CPU meanwhile. A second
// case sends M messages into one group of G members (one notification per member but the sender:
// the sweep reads the members once per conversation per page, and coalesces the burst).
//
//   node --import tsx bench/push-sweep.ts
//   env: BENCH_MONGO_URI (TEST_MONGO_URI, else mongodb://127.0.0.1:27017/), PUSH_N (2000),
//        PUSH_GROUP (200), PUSH_GROUP_MESSAGES (50), PUSH_CONCURRENCY (8)
//
// Each case uses a fresh database (dropped at the end). Measured on FerretDB v1 (2 shared cores, load
// average 5): 78-83 notifications/s direct, 105-114/s for the group, PUSH_CONCURRENCY 8 or 32 alike:
// about 12 store round trips per notification (scan, claim, re-check, record), so the store bounds it.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics/registry.js';
import { PushService } from '../src/push/push-service.js';
import { openStores } from '../src/store/open-stores.js';
import type { Store } from '../src/store/store.js';
import { machineInfo, machineLine } from './lib/machine.js';

const uri = process.env.BENCH_MONGO_URI ?? process.env.TEST_MONGO_URI ?? 'mongodb://127.0.0.1:27017/';
const N = Number(process.env.PUSH_N ?? 2000);
const GROUP = Number(process.env.PUSH_GROUP ?? 200);
const GROUP_MESSAGES = Number(process.env.PUSH_GROUP_MESSAGES ?? 50);
const CONCURRENCY = Number(process.env.PUSH_CONCURRENCY ?? 8);
const created: string[] = [];

async function main(): Promise<void> {
  console.log(machineLine(machineInfo(fileURLToPath(new URL('..', import.meta.url)))));
  console.log(`push-sweep: N=${N} group=${GROUP}x${GROUP_MESSAGES} concurrency=${CONCURRENCY} store=${new URL(uri).host}`);
  let received = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
  try {
    await run('direct, one recipient each', url, () => received, async (store, ts) => {
      for (let i = 0; i < N; i++) await store.persist({ messageId: `d${i}`, from: 'sender', to: `r${i}`, body: 'x'.repeat(100), ts });
      return N;
    });
    await run(`one group of ${GROUP}, ${GROUP_MESSAGES} messages`, url, () => received, async (store, ts) => {
      const members = Array.from({ length: GROUP - 1 }, (_, i) => `g${i}`);
      await store.createGroup({ conversationId: 'g:bench', title: 'bench', ownerId: 'owner', members, createdAt: ts });
      for (let i = 0; i < GROUP_MESSAGES; i++) await store.persist({ messageId: `g${i}`, conversationId: 'g:bench', from: 'owner', body: 'x'.repeat(100), ts: ts + i });
      return GROUP - 1;
    });
  } finally {
    receiver.close();
    const client = new MongoClient(uri);
    await client.connect();
    for (const name of created) await client.db(name).dropDatabase().catch(() => {});
    await client.close();
  }
}

async function run(name: string, webhook: string, received: () => number, seed: (store: Store, ts: number) => Promise<number>): Promise<void> {
  const db = `bench_push_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  created.push(db);
  const dbUrl = new URL(uri);
  dbUrl.pathname = `/${db}`;
  const { config } = loadConfig({
    NODE_ENV: 'development',
    JWT_SECRET: 'bench-push-unused-0123456789abcdef',
    DB_URI: dbUrl.toString(),
    PUSH_WEBHOOK_URL: webhook,
    PUSH_WEBHOOK_SECRET: 'bench-push-secret-0123456789abcdef',
    PUSH_AFTER_MS: '1000',
    PUSH_SWEEP_MS: '50',
    PUSH_CONCURRENCY: String(CONCURRENCY),
    PUSH_COALESCE_MS: '60000',
  });
  const metrics = createMetrics({ collectDefault: false });
  const { store, users } = openStores(config, silentLogger(), metrics);
  await store.start();
  const expected = await seed(store, Date.now() - 5000);
  const before = received();
  const push = new PushService({ push: store.push, store, config: config.push!, metrics, log: silentLogger() });
  const cpu = process.cpuUsage();
  const started = performance.now();
  await push.start();
  while (received() - before < expected) await new Promise((resolve) => setTimeout(resolve, 10));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await push.close();
  await store.close();
  await users.close();
  const cpuPct = Math.round(((used.user + used.system) / 1e6 / seconds) * 100);
  console.log(`${name}: ${expected} notifications in ${seconds.toFixed(2)} s = ${Math.round(expected / seconds)}/s, process CPU ${cpuPct}% (sender, store client and receiver in one process)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
