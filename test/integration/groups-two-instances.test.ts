// A group of three across two server processes on one database with the live bus (FerretDB + NATS):
// live delivery to members on both instances, replay after a disconnect, receipts and typing across
// instances; and two processes sending into one conversation at once produce seqs 1..N, unique and
// gapless (FerretDB v1 makes no conditional update atomic: the unique index decides); and an instance
// confirms messages the other stored without reading them by id first (Store.learn, from the bus).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/auth/jwt.js';
import { mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { TEST_SECRET } from '../helpers/server.js';
import { natsSkip } from '../helpers/nats.js';
import { skipReason } from '../helpers/skips.js';
import type { ServerProcess } from '../helpers/spawn.js';
import { startTwoInstances, type TwoInstances } from '../helpers/two-instances.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';

const baseUri = mongoTestUri();
const CONCURRENT = 60;
const COMMAND_COUNTER = fileURLToPath(new URL('../../bench/tools/mongo-commands.mjs', import.meta.url));

const skip = !baseUri ? skipReason('mongo') : natsSkip;

describe('a group across two server processes (Mongo store + NATS)', { skip }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'groups2');
  const clients: TestClient[] = [];
  let instances: TwoInstances;
  let http: TwoInstances['http'];
  let ws: TwoInstances['ws'];
  let servers: TwoInstances['servers'];
  const tokens = new Map<string, string>();

  const token = async (userId: string) => {
    if (!tokens.has(userId)) tokens.set(userId, await signToken({ secret: TEST_SECRET, userId, ttlSec: 600 }));
    return tokens.get(userId)!;
  };
  const connect = async (url: string, userId: string, device: string) => {
    const { client, replayed } = await TestClient.connectReady(`${url}?device=${device}`, await token(userId));
    clients.push(client);
    return { client, replayed };
  };
  const api = async (base: string, userId: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${await token(userId)}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>) };
  };
  const messageOf = (messageId: string) => (frame: Frame) => frame.type === 'message' && frame.messageId === messageId;

  const commandsDir = mkdtempSync(join(tmpdir(), 'groups2-commands-'));
  /** How many commands of a kind (`find messages _id`: command, collection, filter keys) a server has sent so far. */
  const commandCount = async (server: ServerProcess, kind: string): Promise<number> => {
    const file = join(commandsDir, `mongo-commands-${server.child.pid}.txt`);
    rmSync(file, { force: true });
    server.kill('SIGUSR2');
    for (let waited = 0; !existsSync(file); waited += 20) {
      if (waited > 5000) throw new Error(`no command counts from pid ${server.child.pid}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.trimEnd().endsWith(`  ${kind}`));
    return line ? Number(line.trim().split(/\s+/)[0]) : 0;
  };

  before(async () => {
    // The driver's commands are counted (bench/tools/mongo-commands.mjs), for the round trips a confirmation makes.
    instances = await startTwoInstances(databases, { MONGO_COMMANDS_OUT: commandsDir }, [COMMAND_COUNTER]);
    ({ http, ws, servers } = instances);
  });

  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await instances?.stop();
    rmSync(commandsDir, { recursive: true, force: true });
  });

  it("confirms, on one instance, messages the other stored without reading them first: the bus brought what the store needs", { timeout: 60_000 }, async () => {
    const { client: sender } = await connect(ws.a, 'eve', 'phone');
    const { client: recipient } = await connect(ws.b, 'fay', 'laptop');
    const before = await commandCount(servers[1]!, 'find messages _id');
    for (let i = 0; i < 3; i++) {
      sender.send({ type: 'send', messageId: `learned-${i}`, to: 'fay', body: `hello ${i}` });
      await recipient.next(messageOf(`learned-${i}`));
      recipient.send({ type: 'delivered', messageIds: [`learned-${i}`] });
      await sender.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === `learned-${i}`, 10_000);
    }
    assert.equal(await commandCount(servers[1]!, 'find messages _id') - before, 0, 'instance B read no message by id to confirm them');
  });

  it('delivers live to members on both instances, replays after a disconnect, and carries receipts and typing across', { timeout: 60_000 }, async () => {
    const created = await api(http.a, 'ann', 'POST', '/api/conversations', { title: 'Across', members: ['bo', 'cy'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const conversationId = created.body!.conversationId as string;

    const { client: ann } = await connect(ws.a, 'ann', 'phone');
    const { client: bo } = await connect(ws.b, 'bo', 'laptop');
    const { client: cy } = await connect(ws.b, 'cy', 'phone');

    ann.send({ type: 'send', messageId: 'across-1', conversationId, body: 'hello both' });
    const ack = await ann.next((f) => f.messageId === 'across-1' && f.type === 'ack');
    assert.deepEqual([ack.status, ack.conversationId, ack.seq], ['SENT', conversationId, 1]);
    for (const member of [bo, cy]) {
      const message = await member.next(messageOf('across-1'));
      assert.deepEqual({ ...message, ts: 0 }, { type: 'message', messageId: 'across-1', conversationId, seq: 1, from: 'ann', body: 'hello both', ts: 0 });
    }

    // cy goes away; a message while it is gone is replayed on its return (to the other instance).
    await cy.close();
    bo.send({ type: 'send', messageId: 'across-2', conversationId, body: 'while cy is away' });
    await ann.next(messageOf('across-2'));
    const { replayed } = await connect(ws.a, 'cy', 'phone');
    assert.deepEqual(replayed.map((f) => f.messageId), ['across-1', 'across-2'], 'cy never confirmed either, so both come back');

    // bo reads on instance B: ann (instance A) gets the receipt.
    bo.send({ type: 'read', conversationId, seq: 2 });
    const receipt = await ann.next((f) => f.type === 'receipt' && f.userId === 'bo' && f.readSeq === 2, 10_000);
    assert.equal(receipt.conversationId, conversationId);

    // ann types on instance A: bo (instance B) sees it; ann does not get her own.
    ann.send({ type: 'typing', conversationId });
    const typing = await bo.next((f) => f.type === 'typing', 10_000);
    assert.deepEqual(typing, { type: 'typing', conversationId, userId: 'ann' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(ann.frames.filter((f) => f.type === 'typing').length, 0);
  });

  it('a member removed through one instance can no longer type through the other, which held the group', { timeout: 60_000 }, async () => {
    const created = await api(http.a, 'rho', 'POST', '/api/conversations', { title: 'stale', members: ['sig'] });
    const conversationId = created.body!.conversationId as string;
    const { client: owner } = await connect(ws.a, 'rho', 'r1');
    // sig types through B: B now holds the group and its members.
    const first = await connect(ws.b, 'sig', 's1');
    first.client.send({ type: 'typing', conversationId });
    await owner.next((f) => f.type === 'typing' && f.userId === 'sig', 10_000);
    await first.client.close();
    // Removed through A while sig is connected nowhere: only the bus can tell B.
    assert.equal((await api(http.a, 'rho', 'DELETE', `/api/conversations/${encodeURIComponent(conversationId)}/members/sig`)).status, 204);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { client: again } = await connect(ws.b, 'sig', 's1');
    again.send({ type: 'typing', conversationId });
    const refused = await again.next((f) => f.type === 'error', 10_000);
    assert.deepEqual([refused.code, refused.conversationId], ['not_found', conversationId]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(owner.frames.filter((f) => f.type === 'typing' && f.userId === 'sig').length, 1, 'no typing after the removal');
  });

  it('one Idempotency-Key sent to both instances at once creates one group, answered 201 once', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 10; round++) {
      const key = `both-${round}-${Date.now()}`;
      const body = { title: 'twice', members: ['bo'] };
      const answers = await Promise.all([http.a, http.b].map((base) => api(base, 'ann', 'POST', '/api/conversations', body, { 'idempotency-key': key })));
      assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 201], `round ${round}: ${JSON.stringify(answers)}`);
      assert.equal(answers[0]!.body!.conversationId, answers[1]!.body!.conversationId);
    }
  });

  it(`gives ${CONCURRENT} messages sent into one conversation through both instances at once the seqs 1..${CONCURRENT}, each once`, { timeout: 120_000 }, async () => {
    const created = await api(http.b, 'dee', 'POST', '/api/conversations', { title: 'Race', members: ['eve'] });
    const conversationId = created.body!.conversationId as string;
    const { client: onA } = await connect(ws.a, 'dee', 'one');
    const { client: onB } = await connect(ws.b, 'eve', 'two');
    for (let i = 0; i < CONCURRENT / 2; i++) {
      onA.send({ type: 'send', messageId: `race-a-${i}`, conversationId, body: `a ${i}` });
      onB.send({ type: 'send', messageId: `race-b-${i}`, conversationId, body: `b ${i}` });
    }
    const acks = async (client: TestClient, prefix: string) => {
      const out: Frame[] = [];
      for (let i = 0; i < CONCURRENT / 2; i++) out.push(await client.next((f) => f.messageId === `${prefix}${i}` && (f.type === 'ack' || f.type === 'error'), 60_000));
      return out;
    };
    const all = [...(await acks(onA, 'race-a-')), ...(await acks(onB, 'race-b-'))];
    assert.deepEqual(all.filter((f) => f.type === 'error'), []);
    const seqs = all.map((f) => f.seq as number).sort((x, y) => x - y);
    assert.deepEqual(seqs, Array.from({ length: CONCURRENT }, (_, i) => i + 1));
    // The store agrees: history holds each message once, in seq order.
    const page = await api(http.a, 'dee', 'GET', `/api/conversations/${encodeURIComponent(conversationId)}/messages?limit=200`);
    const messages = page.body!.messages as { seq: number; messageId: string }[];
    assert.deepEqual(messages.map((m) => m.seq), seqs);
    assert.equal(new Set(messages.map((m) => m.messageId)).size, CONCURRENT);
  });
});
