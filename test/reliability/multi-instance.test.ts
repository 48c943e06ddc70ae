// Exactly-once across instances: two server processes on one database (scale-out, as deploy/ runs it).
// 1. The same messageIds sent to both at the same moment (a client retrying on another instance while
//    the first still works on it): each stored once, one `duplicate:false` ack, every ack with the same ts.
// 2. A recipient with a device on each, both confirming the same messages at the same moment: the
//    store's receipt insert (unique by recipient and message) lets exactly one instance win each
//    mark — one DELIVERED ack per message over the sender's devices on both instances, and the
//    instances' `chat_deliveries_marked_total` adding up to the number of messages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { dropDatabases } from '../helpers/mongo.js';
import { TestClient } from '../helpers/ws-client.js';
import { scaled, waitFor, withTimeout } from './load-client.js';
import { faultMongoUri, freshDbUri, RestartableServer, signTokens } from './server-process.js';

const mongo = faultMongoUri();
const MESSAGES = scaled(200);
const ROUNDS = Number(process.env.MARK_ROUNDS ?? '3');

async function deliveriesMarked(httpUrl: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return Number(/^chat_deliveries_marked_total (\d+)/m.exec(text)?.[1] ?? 0);
}

/** True when the server is FerretDB (it reports itself in buildInfo), whose updates are not atomic (docs/ferretdb.md). */
async function isFerretDb(uri: string): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    const info = await client.db('admin').command({ buildInfo: 1 });
    return JSON.stringify(info).toLowerCase().includes('ferretdb');
  } finally {
    await client.close();
  }
}

const ferret = mongo.uri ? await isFerretDb(mongo.uri).catch(() => false) : false;

describe('two instances on one database (Mongo store)', { skip: mongo.skip }, () => {
  it(`stores each of ${MESSAGES} messages sent to both instances at once exactly once`, { timeout: 300_000 }, async (t) => {
    const { dbName, dbUri } = freshDbUri(mongo.uri!, 'rel_twice');
    const a = await RestartableServer.create(dbUri);
    const b = await RestartableServer.create(dbUri);
    const tokens = await signTokens(['sender', 'recipient']);
    const clients: TestClient[] = [];
    try {
      await Promise.all([a.start(), b.start()]);
      const [onA, onB] = await Promise.all([a, b].map(async (server) => (await TestClient.connectReady(server.wsUrl, tokens.get('sender')!)).client));
      const { client: recipient } = await TestClient.connectReady(a.wsUrl, tokens.get('recipient')!);
      clients.push(onA!, onB!, recipient);
      const ids = Array.from({ length: MESSAGES }, (_, i) => `same-${i}`);
      for (const id of ids) {
        const frame = { type: 'send', messageId: id, to: 'recipient', body: `body ${id}` };
        onA!.send(frame);
        onB!.send(frame);
      }
      const sentAcks = () => [...onA!.frames, ...onB!.frames].filter((f) => f.status === 'SENT' || f.type === 'error');
      await waitFor(() => sentAcks().length >= 2 * MESSAGES, 120_000, () => `acks ${sentAcks().length}`);
      const errors = sentAcks().filter((f) => f.type === 'error');
      const byId = new Map<string, { fresh: number; ts: Set<number> }>();
      for (const f of sentAcks()) {
        if (f.type === 'error') continue;
        const entry = byId.get(String(f.messageId)) ?? { fresh: 0, ts: new Set<number>() };
        if (f.duplicate === false) entry.fresh++;
        entry.ts.add(Number(f.ts));
        byId.set(String(f.messageId), entry);
      }
      const client = new MongoClient(dbUri, { serverSelectionTimeoutMS: 5000 });
      await client.connect();
      const docs = await client.db().collection<{ seq: number }>('messages').find({}, { projection: { seq: 1 } }).toArray();
      await client.close();
      const rows = docs.length;
      // One conversation: its seqs are 1..rows, each once (gapless and unique across both instances).
      const seqs = new Set(docs.map((doc) => doc.seq));
      const entries = [...seqs].filter((seq) => seq >= 1 && seq <= rows).length;
      // Live delivery comes from the instance that stored the message: the recipient on A gets A's.
      const line = `multi-instance-sends: ${MESSAGES} messageIds sent to two instances at once: ${rows} message rows, ${entries} distinct seqs in 1..${rows}, ${[...byId.values()].filter((e) => e.fresh !== 1).length} ids without exactly one fresh ack, ${[...byId.values()].filter((e) => e.ts.size !== 1).length} ids whose acks disagree on ts, ${errors.length} errors (${[...new Set(errors.map((f) => f.code))].join(',')})`;
      console.log(line);
      t.diagnostic(line);
      assert.equal(rows, MESSAGES, 'message rows');
      assert.equal(entries, MESSAGES, 'seqs 1..N, each once');
      assert.deepEqual(errors.filter((f) => f.code !== 'unavailable'), [], 'no error but a retryable unavailable');
      for (const [id, entry] of byId) {
        assert.ok(entry.fresh <= 1, `${id}: ${entry.fresh} acks with duplicate:false`);
        assert.equal(entry.ts.size, 1, `${id}: acks with different ts`);
      }
      const { replayed } = await TestClient.connectReady(b.wsUrl, tokens.get('recipient')!).then((r) => (clients.push(r.client), r));
      assert.deepEqual(new Set(replayed.map((f) => f.messageId)), new Set(ids), 'replay holds every message once');
      assert.equal(replayed.length, MESSAGES);
    } finally {
      await Promise.all(clients.map((client) => withTimeout(client.terminate(), 5000, 'terminate').catch(() => {})));
      await Promise.all([a.stop('SIGTERM'), b.stop('SIGTERM')]);
      await withTimeout(dropDatabases(mongo.uri!, [dbName]), 15_000, 'dropping the test database').catch(() => {});
    }
  });

  // docs/ferretdb.md found FerretDB v1's updates to lose concurrent $inc; the marks are unique-key
  // receipt inserts instead, which are atomic there too.
  it(`marks each of ${MESSAGES} messages once when two instances confirm them at the same moment`, { timeout: 300_000 }, async (t) => {
    const { dbName, dbUri } = freshDbUri(mongo.uri!, 'rel_marks');
    const a = await RestartableServer.create(dbUri);
    const b = await RestartableServer.create(dbUri);
    const tokens = await signTokens(['sender', 'recipient']);
    const clients: TestClient[] = [];
    const open = async (server: RestartableServer, user: string) => {
      const { client } = await TestClient.connectReady(server.wsUrl, tokens.get(user)!);
      clients.push(client);
      return client;
    };
    try {
      await Promise.all([a.start(), b.start()]);
      const [senderA, senderB] = [await open(a, 'sender'), await open(b, 'sender')];
      let total = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const ids = Array.from({ length: MESSAGES }, (_, i) => `r${round}-m${i}`);
        for (const id of ids) senderA.send({ type: 'send', messageId: id, to: 'recipient', body: `body ${id}` });
        await senderA.next((f) => f.messageId === ids.at(-1) && f.status === 'SENT', 30_000);
        // The recipient's two devices, one per instance, each get every message (live on A, replayed on B)...
        const [onA, onB] = [await open(a, 'recipient'), await open(b, 'recipient')];
        await waitFor(() => [onA, onB].every((c) => c.frames.filter((f) => f.type === 'message').length >= MESSAGES), 30_000, () => 'replays');
        // ...and confirm all of them at once, on both instances.
        onA.send({ type: 'delivered', messageIds: ids });
        onB.send({ type: 'delivered', messageIds: ids });
        const acked = () => new Set([...senderA.frames, ...senderB.frames].filter((f) => f.status === 'DELIVERED').map((f) => String(f.messageId)));
        await waitFor(() => ids.every((id) => acked().has(id)), 60_000, () => `DELIVERED acks ${acked().size}`);
        await new Promise((resolve) => setTimeout(resolve, 1000)); // late duplicates, if any
        await Promise.all([onA.close(), onB.close()]);
        total += MESSAGES;
      }
      const perId = new Map<string, number>();
      for (const f of [...senderA.frames, ...senderB.frames]) if (f.status === 'DELIVERED') perId.set(String(f.messageId), (perId.get(String(f.messageId)) ?? 0) + 1);
      const doubles = [...perId.values()].filter((n) => n > 1).length;
      const marked = (await deliveriesMarked(a.httpUrl)) + (await deliveriesMarked(b.httpUrl));
      const client = new MongoClient(dbUri, { serverSelectionTimeoutMS: 5000 });
      await client.connect();
      // The store's marks: one receipt per (recipient, message), the unique _id deciding the race.
      const entries = await client.db().collection<{ messageId: string }>('receipts').find({}, { projection: { messageId: 1 } }).toArray();
      const messageRows = await client.db().collection('messages').countDocuments({});
      await client.close();
      const receiptsPer = new Map<string, number>();
      for (const entry of entries) receiptsPer.set(entry.messageId, (receiptsPer.get(entry.messageId) ?? 0) + 1);
      const notOnce = messageRows - [...receiptsPer.values()].filter((n) => n === 1).length;
      const line = `multi-instance-marks: ${ROUNDS} rounds x ${MESSAGES} messages confirmed on two instances at once${ferret ? ' (FerretDB)' : ''}: DELIVERED acks for ${perId.size} messages, ${doubles} acked twice; marks made by the instances ${marked} for ${total} deliveries; messages without exactly one receipt: ${notOnce}`;
      console.log(line);
      t.diagnostic(line);
      assert.equal(doubles, 0, 'messages whose delivery was marked (and acked) twice');
      assert.equal(marked, total, 'delivery marks made across both instances');
      assert.equal(entries.length, total);
      assert.equal(notOnce, 0, 'messages not marked exactly once');
    } finally {
      await Promise.all(clients.map((client) => withTimeout(client.terminate(), 5000, 'terminate').catch(() => {})));
      await Promise.all([a.stop('SIGTERM'), b.stop('SIGTERM')]);
      await withTimeout(dropDatabases(mongo.uri!, [dbName]), 15_000, 'dropping the test database').catch(() => {});
    }
  });
});
