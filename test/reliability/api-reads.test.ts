// What one user's reads can make the server do: history and list pages are bounded in bytes, not
// only in items; GET and HEAD on the API are rate limited per user by what they weigh; and a client that
// pipelines requests and reads nothing does not get answer after answer built and held for it.
// (Found from outside: 200 messages of 16 KiB control characters were a 14 MB page, built in full for
// every GET and HEAD, and 20 pipelined GETs on one socket held 450 MB of the server's memory.)
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { metricValue } from './metric-value.js';

const HISTORY_ROUTE = '/api/conversations/:id/messages';

async function fill(t: TestServer, from: string, to: string, count: number, body: string): Promise<void> {
  const { client } = await TestClient.connectReady(t.wsUrl, await t.token(from));
  try {
    for (let i = 0; i < count; i++) assert.equal((await client.sendMessage(`${from}-${i}`, to, body)).status, 'SENT');
  } finally {
    await client.close();
  }
}

describe('API reads: history pages by bytes', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { API_PAGE_MAX_BYTES: '4096' } });
  });
  after(() => t.close());

  /** Every page of a conversation's history, paging with `before` (newest first) or `after` (oldest first). */
  async function everyPage(conversationId: string, paging: 'before' | 'after') {
    const auth = { authorization: `Bearer ${await t.token('reader')}` };
    const seen: number[] = [];
    let from: number | undefined = paging === 'after' ? 0 : undefined;
    let pages = 0;
    for (;;) {
      const response = await fetch(`${t.httpUrl}/api/conversations/${conversationId}/messages?limit=200${from !== undefined ? `&${paging}=${from}` : ''}`, { headers: auth });
      const text = await response.text();
      assert.equal(response.status, 200, text);
      assert.ok(Buffer.byteLength(text) < 4096 + 100, `a page of ${Buffer.byteLength(text)} bytes`);
      const page = JSON.parse(text) as { messages: { seq: number }[]; hasMore: boolean };
      const seqs = page.messages.map((m) => m.seq);
      pages++;
      if (paging === 'before') seen.unshift(...seqs);
      else seen.push(...seqs);
      if (!page.hasMore) return { seen, pages };
      from = paging === 'before' ? seqs[0] : seqs.at(-1);
    }
  }

  it('stops a page at API_PAGE_MAX_BYTES, newest first, and paging with `before` brings every message once', async () => {
    await fill(t, 'pager', 'reader', 10, 'p'.repeat(1000));
    const { seen, pages } = await everyPage('d:pager:reader', 'before');
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(pages >= 3, `${pages} pages`);
  });

  it('paging forward with `after`, a page stops at API_PAGE_MAX_BYTES keeping its oldest, and brings every message once', async () => {
    await fill(t, 'fwd', 'reader', 10, 'f'.repeat(1000));
    const { seen, pages } = await everyPage('d:fwd:reader', 'after');
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(pages >= 3, `${pages} pages`);
  });

  it('sends a message bigger than the budget alone rather than an empty page', async () => {
    await fill(t, 'big', 'reader', 2, 'b'.repeat(6000));
    const response = await fetch(`${t.httpUrl}/api/conversations/d:big:reader/messages`, { headers: { authorization: `Bearer ${await t.token('reader')}` } });
    const page = (await response.json()) as { messages: { seq: number }[]; hasMore: boolean };
    assert.deepEqual([page.messages.map((m) => m.seq), page.hasMore], [[2], true]);
  });
});

describe('API reads: conversation-list pages by bytes', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { API_PAGE_MAX_BYTES: '4096' } });
  });
  after(() => t.close());

  it('stops a list page at API_PAGE_MAX_BYTES, and its `next` goes on with every conversation once', async () => {
    for (let i = 0; i < 8; i++) await fill(t, `peer${i}`, 'lister', 1, 'l'.repeat(1000));
    const auth = { authorization: `Bearer ${await t.token('lister')}` };
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await fetch(`${t.httpUrl}/api/conversations?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { headers: auth });
      const text = await response.text();
      assert.equal(response.status, 200, text);
      assert.ok(Buffer.byteLength(text) < 4096 + 200, `a page of ${Buffer.byteLength(text)} bytes`);
      const page = JSON.parse(text) as { conversations: { conversationId: string }[]; next: string | null };
      seen.push(...page.conversations.map((c) => c.conversationId));
      cursor = page.next;
      pages++;
    } while (cursor);
    assert.deepEqual([...seen].sort(), Array.from({ length: 8 }, (_, i) => `d:lister:peer${i}`).sort());
    assert.ok(pages >= 3, `${pages} pages`);
  });
});

describe('API reads: rate limited per user, by weight', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { API_READ_RATE_PER_SEC: '1', API_READ_BURST: '5', API_READ_BYTES_PER_TOKEN: '1024' } });
  });
  after(() => t.close());

  it('charges a 4 KB answer 1 + 4 tokens; the next read is 429 with Retry-After; another user is unaffected; HEAD counts too', async () => {
    await fill(t, 'heavy', 'light', 4, 'h'.repeat(1000));
    const get = async (user: string, method = 'GET') =>
      fetch(`${t.httpUrl}/api/conversations/d:heavy:light/messages`, { method, headers: { authorization: `Bearer ${await t.token(user)}` } });
    const first = await get('heavy');
    assert.equal(first.status, 200);
    assert.ok(Buffer.byteLength(await first.text()) >= 4096);
    const refused = await get('heavy', 'HEAD');
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const body = (await (await get('heavy')).json()) as { error: { code: string } };
    assert.equal(body.error.code, 'rate_limited');
    assert.equal((await get('light')).status, 200, 'another user has a bucket of its own');
    assert.ok((await metricValue(t.server.metrics.rateLimited, { limit: 'api_read' })) >= 2);
  });
});

describe('API reads: a client that pipelines and reads nothing', () => {
  let t: TestServer;
  before(async () => {
    // A page bigger than what the loopback socket's buffers at both ends take (a few MB each).
    t = await startTestServer({ env: { API_PAGE_MAX_BYTES: String(64 << 20) } });
  });
  after(() => t.close());

  it('gets no more than the answer being written built for it: the pipelined rest waits or closes the connection', async () => {
    await fill(t, 'piper', 'sink', 200, '\u0001'.repeat(16_000)); // ~19 MB as JSON (\u0001 is 6 bytes)
    const answered = () => t.server.metrics.httpRequests.cell(HISTORY_ROUTE, '200').value;
    const before = answered();
    const socket = connect(t.server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause(); // reads nothing
    const request = `GET /api/conversations/d:piper:sink/messages?limit=200 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await t.token('piper')}\r\n\r\n`;
    socket.write(request.repeat(5));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const built = answered() - before;
    socket.destroy();
    assert.ok(built >= 1 && built <= 2, `${built} of 5 pipelined 19 MB answers built for a client that read nothing`);
    // The server answers everyone else meanwhile, and the same page to a client that reads.
    const page = await fetch(`${t.httpUrl}/api/conversations/d:piper:sink/messages?limit=200`, { headers: { authorization: `Bearer ${await t.token('sink')}` } });
    assert.equal(((await page.json()) as { messages: unknown[] }).messages.length, 200);
  });
});
