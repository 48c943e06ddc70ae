// The HTTP door: health, readiness, POST /api/messages parity with the WebSocket send, status codes.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { NewMessage } from '../../src/store/store.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { readyzSettles } from '../helpers/readyz.js';
import { TestClient } from '../helpers/ws-client.js';

class FlakyStore extends MemoryStore {
  failing = false;
  override async persist(message: NewMessage) {
    if (this.failing) throw new Error('connection refused');
    return super.persist(message);
  }
  pings = 0;
  override async ping() {
    this.pings++;
    if (this.failing) throw new Error('connection refused');
  }
}

describe('HTTP', () => {
  let t: TestServer;
  let store: FlakyStore;
  let aliceToken: string;
  const post = (body: string | object, headers: Record<string, string> = {}) =>
    fetch(`${t.httpUrl}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    });

  before(async () => {
    store = new FlakyStore();
    t = await startTestServer({ store, env: { MAX_MESSAGE_BYTES: '1000', MAX_HTTP_BODY_BYTES: '4096' } });
    aliceToken = await t.token('alice');
  });
  after(() => t.close());

  it('GET /healthz answers 200 {"status":"ok"}', async () => {
    const res = await fetch(`${t.httpUrl}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('GET /readyz is 200 when the store answers and 503 when it does not, checking the store at most once a second', async () => {
    const readyz = async () => (await fetch(`${t.httpUrl}/readyz`)).status;
    const settles = (status: number) => readyzSettles(t.httpUrl, status);
    assert.equal(await settles(200), 200);
    // A flood of /readyz (no token needed, often public) costs the store one ping, not one each.
    const before = store.pings;
    const answers = await Promise.all(Array.from({ length: 200 }, readyz));
    assert.ok(answers.every((status) => status === 200));
    assert.ok(store.pings - before <= 2, `${store.pings - before} pings for 200 requests`);
    store.failing = true;
    try {
      assert.equal(await settles(503), 503);
    } finally {
      store.failing = false;
    }
    assert.equal(await settles(200), 200);
  });

  it('POST /api/messages stores and acks (201), delivers live, and answers a retry with 200 duplicate', async () => {
    const { client: bob } = await TestClient.connectReady(t.wsUrl, await t.token('bob'));
    const res = await post({ messageId: 'http-1', to: 'bob', body: 'via http' });
    assert.equal(res.status, 201);
    const ack = (await res.json()) as Record<string, unknown>;
    // v1's fields, plus v1.1's conversationId and seq beside them.
    assert.deepEqual(Object.keys(ack).sort(), ['conversationId', 'duplicate', 'messageId', 'seq', 'status', 'ts']);
    assert.equal(ack.status, 'SENT');
    assert.equal(ack.duplicate, false);
    const live = await bob.next((f) => f.type === 'message');
    assert.deepEqual(live, { type: 'message', messageId: 'http-1', from: 'alice', to: 'bob', body: 'via http', ts: ack.ts, conversationId: ack.conversationId, seq: ack.seq });
    const retry = await post({ messageId: 'http-1', to: 'bob', body: 'via http' });
    assert.equal(retry.status, 200);
    assert.deepEqual(await retry.json(), { ...ack, duplicate: true });
    await bob.close();
  });

  it('is the same send path as the WebSocket: a WebSocket retry of an HTTP send is a duplicate', async () => {
    await post({ messageId: 'http-2', to: 'bob', body: 'same' });
    const { client: alice } = await TestClient.connectReady(t.wsUrl, aliceToken);
    const ack = await alice.sendMessage('http-2', 'bob', 'same');
    assert.equal(ack.duplicate, true);
    assert.equal((await alice.sendMessage('http-2', 'bob', 'different')).code, 'conflict');
    await alice.close();
  });

  it('answers 400, 401, 409, 413, 415 with a JSON error body', async () => {
    const cases: [Response, number, string][] = [
      [await post('{"messageId":'), 400, 'bad_request'],
      [await post({ messageId: 'x', to: { $gt: '' }, body: 'inj' }), 400, 'bad_request'],
      [await post('[1]'), 400, 'bad_request'],
      [await post({ messageId: 'x', to: 'bob', body: 'y' }, { authorization: '' }), 401, 'unauthorized'],
      [await post({ messageId: 'http-1', to: 'bob', body: 'changed' }), 409, 'conflict'],
      [await post({ messageId: 'big', to: 'bob', body: 'x'.repeat(1001) }), 413, 'too_large'],
      [await post({ messageId: 'huge', to: 'bob', body: 'x'.repeat(5000) }), 413, 'too_large'],
      [await post('messageId=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type'],
      // A compressed body is refused as such, not read as it is and answered "malformed JSON".
      [await post(gzipSync(JSON.stringify({ messageId: 'gz', to: 'bob', body: 'y' })), { 'content-encoding': 'gzip' }), 415, 'unsupported_media_type'],
      [await post({ messageId: 'http-identity', to: 'bob', body: 'y' }, { 'content-encoding': 'identity' }), 201, ''],
    ];
    for (const [res, status, code] of cases) {
      assert.equal(res.status, status, code);
      if (code !== '') assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
    }
    assert.equal(await t.store.getMessage('big'), undefined);
    assert.equal(await t.store.getMessage('gz'), undefined);
  });

  it('refuses a chunked body past the limit without buffering it (413) and closes the connection', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${t.httpUrl}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => resolve(res.statusCode ?? 0));
      req.on('error', reject);
      const chunk = 'x'.repeat(1024);
      let sent = 0;
      const pump = () => {
        while (sent < 64 && req.write(chunk)) sent++;
        if (sent < 64) req.once('drain', pump);
        else req.end();
      };
      req.write('{"messageId":"stream","to":"bob","body":"');
      pump();
    });
    assert.equal(status, 413);
  });

  it('answers 503 with Retry-After when the store fails, and stores the retry afterwards', async () => {
    store.failing = true;
    let res: Response;
    try {
      res = await post({ messageId: 'http-outage', to: 'bob', body: 'x' });
    } finally {
      store.failing = false;
    }
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unavailable');
    assert.equal((await post({ messageId: 'http-outage', to: 'bob', body: 'x' })).status, 201);
  });

  it('answers 404 JSON for unknown routes', async () => {
    for (const path of ['/nope', '/api/messages/1', '/api']) {
      const res = await fetch(`${t.httpUrl}${path}`);
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
  });

  it('answers 405 with Allow for a known path asked with another method, and 426 for a plain GET of the WebSocket path', async () => {
    const cases: [method: string, path: string, allow: string][] = [
      ['PUT', '/api/messages', 'POST, OPTIONS'],
      ['GET', '/api/messages', 'POST, OPTIONS'],
      ['POST', '/api/conversations/c1/messages', 'GET, HEAD, OPTIONS'],
      ['GET', '/api/conversations/c1/messages/m1', 'PATCH, DELETE, OPTIONS'],
      ['DELETE', '/healthz', 'GET, HEAD, OPTIONS'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(`${t.httpUrl}${path}`, { method, headers: { authorization: `Bearer ${aliceToken}` } });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
    }
    const head = await fetch(`${t.httpUrl}/api/messages`, { method: 'HEAD' });
    assert.equal(head.status, 405);
    assert.equal(await head.text(), '', 'no body after a HEAD');
    const plain = await fetch(`${t.httpUrl}/ws`);
    assert.equal(plain.status, 426);
    assert.equal(plain.headers.get('upgrade'), 'websocket');
    assert.equal(((await plain.json()) as { error: { code: string } }).error.code, 'upgrade_required');
    const { client } = await TestClient.connectReady(t.wsUrl, aliceToken);
    client.close(); // the upgrade itself is untouched
  });
});
