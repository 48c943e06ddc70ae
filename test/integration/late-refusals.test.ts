// A burst of sends still waiting to be written when its sender is banned through another instance
// (FerretDB + NATS, two server processes): what is written after the ban's 200 is at most what was
// already on its way to the database. Each send is its own batch here (DB_BATCH_MAX_OPS_PER_USER=1),
// so a burst is many batches one after another. Before the store asked the chat layer just before
// each insert (Store.admitSenders), all 76 still queued were stored after the ban (the attacker probe:
// all 100 of a burst). Nothing acked is lost. A removal's side of the same gate: a batch whose
// membership read came before the removal is refused by it only in the insert rounds after (a
// unit test, test/unit/late-refusals.test.ts, and the store's, test/store/mongo-store.test.ts): batches
// read after the removal see it in the database.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signToken } from '../../src/auth/jwt.js';
import { mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { TEST_SECRET } from '../helpers/server.js';
import { natsSkip } from '../helpers/nats.js';
import { skipReason } from '../helpers/skips.js';
import { startTwoInstances, type TwoInstances } from '../helpers/two-instances.js';
import { TestClient, type Frame } from '../helpers/ws-client.js';

const baseUri = mongoTestUri();
const skip = !baseUri ? skipReason('mongo') : natsSkip;
const KEY = 'late-refusals-server-api-key-0123456789';
const BURST = 80;
/**
 * Written after the refusal and the marker, at most: the send whose insert was under way, and a few
 * for the bus's delay on a loaded machine (76 of 80 before the gate, 0 in each of five runs after).
 */
const MOST_AFTER = 5;

describe('sends waiting to be written when their sender is banned elsewhere (Mongo store + NATS)', { skip }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'late');
  const clients: TestClient[] = [];
  let instances: TwoInstances;
  let http: TwoInstances['http'];
  let ws: TwoInstances['ws'];

  const token = (userId: string) => signToken({ secret: TEST_SECRET, userId, ttlSec: 600 });
  const connect = async (url: string, userId: string) => {
    const { client } = await TestClient.connectReady(`${url}?device=d`, await token(userId));
    clients.push(client);
    return client;
  };
  const api = async (base: string, auth: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>) };
  };
  /** Every message of the conversation, oldest first, as its owner reads it through A. */
  const history = async (owner: string, conversationId: string) => {
    const page = await api(http.a, await token(owner), 'GET', `/api/conversations/${encodeURIComponent(conversationId)}/messages?limit=200`);
    return page.body!.messages as { messageId: string; conversationId: string; from: string; seq: number }[];
  };

  before(async () => {
    instances = await startTwoInstances(databases, { DB_BATCH_MAX_OPS_PER_USER: '1', SERVER_API_KEY: KEY });
    ({ http, ws } = instances);
  });

  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await instances?.stop();
  });

  /**
   * `sender` on B sends a burst into a group owned through A; once a few have reached the owner,
   * `refuse` runs through A, then the owner sends a marker. Returns what was stored after the marker
   * and what the sender was told.
   */
  async function race(tag: string, refuse: (owner: string, sender: string, conversationId: string) => Promise<void>) {
    const [owner, sender] = [`${tag}-owner`, `${tag}-sender`];
    const created = await api(http.a, await token(owner), 'POST', '/api/conversations', { title: tag, members: [sender] });
    const conversationId = created.body!.conversationId as string;
    const ownerSocket = await connect(ws.a, owner);
    const senderSocket = await connect(ws.b, sender);
    for (let i = 0; i < BURST; i++) senderSocket.send({ type: 'send', messageId: `${tag}-${i}`, conversationId, body: `burst ${i}` });
    // The burst is flowing: batches one after another on B.
    for (let i = 0; i < 3; i++) await ownerSocket.next((f: Frame) => f.type === 'message' && f.from === sender, 10_000);
    await refuse(owner, sender, conversationId);
    ownerSocket.send({ type: 'send', messageId: `${tag}-mark`, conversationId, body: 'after the refusal' });
    const markAck = await ownerSocket.next((f) => f.type === 'ack' && f.messageId === `${tag}-mark`, 10_000);
    // Let whatever B still had queued be written or refused.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const messages = await history(owner, conversationId);
    const acked = senderSocket.frames.filter((f) => f.type === 'ack' && f.status === 'SENT').map((f) => f.messageId as string);
    return { markSeq: markAck.seq as number, messages, acked, sender };
  }

  function check({ markSeq, messages, acked, sender }: Awaited<ReturnType<typeof race>>) {
    const stored = new Set(messages.map((m) => m.messageId));
    for (const id of acked) assert.ok(stored.has(id), `${id} was acked SENT but is not stored`);
    const late = messages.filter((m) => m.from === sender && m.seq > markSeq);
    assert.ok(late.length <= MOST_AFTER, `${late.length} of the sender's messages were stored after the refusal and the marker (seq ${markSeq}): ${late.map((m) => m.seq).join(', ')}`);
    assert.ok(messages.filter((m) => m.from === sender).length < BURST, 'the burst was still being written when it was refused (else this proves nothing)');
  }

  it('a ban through A stops what B has not written yet; the server API still sends as the banned user', { timeout: 60_000 }, async () => {
    const outcome = await race('ban', async (_owner, sender) => {
      const banned = await api(http.a, KEY, 'POST', `/api/server/users/${sender}/ban`);
      assert.equal(banned.status, 200);
    });
    check(outcome);
    const conversationId = outcome.messages[0]!.conversationId;
    const bySystem = await api(http.b, KEY, 'POST', '/api/server/messages', { from: outcome.sender, conversationId, messageId: 'ban-by-server', body: 'through the server API' });
    assert.equal(bySystem.status, 201, JSON.stringify(bySystem.body));
  });
});
