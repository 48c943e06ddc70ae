// Metrics modes (secret / open / off), the admin route, JSON negotiation, and values that move.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';

const SECRET = 'metrics-key-0123456789abcdef';

describe('metrics: secret mode', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { METRICS_MODE: 'secret', METRICS_SECRET: SECRET, METRICS_ENABLE_ADMIN_ROUTE: 'true' } });
  });
  after(() => t.close());

  it('refuses a missing or wrong key with 401 and no metric', async () => {
    for (const headers of [{} as Record<string, string>, { 'x-metrics-key': 'wrong' }, { 'x-metrics-key': SECRET.slice(0, -1) }, { 'x-metrics-key': `${SECRET}x` }]) {
      const res = await fetch(`${t.httpUrl}/metrics`, { headers });
      assert.equal(res.status, 401);
      assert.doesNotMatch(await res.text(), /chat_/);
    }
  });

  it('serves Prometheus text with the right key, and JSON when asked', async () => {
    const text = await fetch(`${t.httpUrl}/metrics`, { headers: { 'x-metrics-key': SECRET } });
    assert.equal(text.status, 200);
    assert.match(text.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(await text.text(), /# TYPE chat_messages_sent_total counter/);
    const json = await fetch(`${t.httpUrl}/metrics`, { headers: { 'x-metrics-key': SECRET, accept: 'application/json' } });
    assert.equal(json.status, 200);
    const body = (await json.json()) as { name: string }[];
    assert.ok(Array.isArray(body));
    assert.ok(body.some((metric) => metric.name === 'chat_connections_open'));
  });

  it('moves the counters when messages are sent, delivered and refused', async () => {
    const read = async () => {
      const res = await fetch(`${t.httpUrl}/metrics`, { headers: { 'x-metrics-key': SECRET } });
      return res.text();
    };
    const value = (text: string, line: string) => Number(text.split('\n').find((l) => l.startsWith(line + ' '))?.split(' ')[1] ?? 0);
    const before = await read();
    const { client: a } = await TestClient.connectReady(t.wsUrl, await t.token('m-alice'));
    const { client: b } = await TestClient.connectReady(t.wsUrl, await t.token('m-bob'));
    await a.sendMessage('metric-1', 'm-bob', 'x');
    await a.sendMessage('metric-1', 'm-bob', 'x');
    await a.sendMessage('metric-1', 'm-bob', 'y');
    await b.next((f) => f.type === 'message');
    b.send({ type: 'delivered', messageIds: ['metric-1'] });
    await a.next((f) => f.status === 'DELIVERED');
    const after = await read();
    if (process.env.DEBUG_METRICS) console.log(after);
    assert.equal(value(after, 'chat_messages_sent_total{result="new"}') - value(before, 'chat_messages_sent_total{result="new"}'), 1);
    assert.equal(value(after, 'chat_messages_sent_total{result="duplicate"}') - value(before, 'chat_messages_sent_total{result="duplicate"}'), 1);
    assert.equal(value(after, 'chat_messages_sent_total{result="conflict"}') - value(before, 'chat_messages_sent_total{result="conflict"}'), 1);
    assert.equal(value(after, 'chat_deliveries_marked_total') - value(before, 'chat_deliveries_marked_total'), 1);
    assert.equal(value(after, 'chat_connections_open'), 2);
    assert.ok(value(after, 'chat_sent_ack_latency_seconds_count') >= 2);
    assert.ok(value(after, 'chat_frames_in_total{type="send"}') >= 3);
    assert.ok(value(after, 'chat_frames_out_total{type="message"}') >= 1);
    // No user or message ids in label values.
    assert.doesNotMatch(after, /m-alice|m-bob|metric-1/);
    await Promise.all([a.close(), b.close()]);
  });

  it('GET /api/metrics: 401 without a token, 403 for a non-admin, JSON for an admin', async () => {
    assert.equal((await fetch(`${t.httpUrl}/api/metrics`)).status, 401);
    const user = await fetch(`${t.httpUrl}/api/metrics`, { headers: { authorization: `Bearer ${await t.token('joe')}` } });
    assert.equal(user.status, 403);
    const admin = await fetch(`${t.httpUrl}/api/metrics`, { headers: { authorization: `Bearer ${await t.token('root', { role: 'admin' })}` } });
    assert.equal(admin.status, 200);
    assert.ok(((await admin.json()) as { name: string }[]).some((metric) => metric.name === 'chat_messages_sent_total'));
  });

  it('counts refused upgrades by reason', async () => {
    assert.equal(await upgradeStatus(t.wsUrl), 401);
    const text = await (await fetch(`${t.httpUrl}/metrics`, { headers: { 'x-metrics-key': SECRET } })).text();
    assert.match(text, /chat_upgrades_rejected_total\{reason="no_token"\} [1-9]/);
  });
});

describe('metrics: open and off modes', () => {
  it('open: no key needed; the admin route is off by default', async () => {
    const t = await startTestServer({ env: { METRICS_MODE: 'open' } });
    try {
      assert.equal((await fetch(`${t.httpUrl}/metrics`)).status, 200);
      assert.equal((await fetch(`${t.httpUrl}/api/metrics`)).status, 404);
    } finally {
      await t.close();
    }
  });

  it('off: /metrics is 404', async () => {
    const t = await startTestServer({ env: { METRICS_MODE: 'off' } });
    try {
      assert.equal((await fetch(`${t.httpUrl}/metrics`, { headers: { 'x-metrics-key': 'anything' } })).status, 404);
    } finally {
      await t.close();
    }
  });
});
