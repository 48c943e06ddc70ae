// The push sender's bounds: a full work queue puts notifications back in the store instead of losing
// them, and shutdown aborts a POST the receiver never answers instead of waiting for it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pushNotificationId } from '../../src/push/notification.js';
import { PushReceiver } from '../helpers/push-receiver.js';
import { createLogger } from '../../src/log.js';
import { startTestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { metricValue } from '../reliability/metric-value.js';

const env = (url: string, extra: Record<string, string> = {}) => ({
  PUSH_WEBHOOK_URL: url,
  PUSH_WEBHOOK_SECRET: 'bounds-secret-0123456789abcdef0123',
  PUSH_AFTER_MS: '200',
  PUSH_SWEEP_MS: '25',
  ...extra,
});

describe('offline push bounds', () => {
  it('a queue of one still sends every notification: the overflow waits in the store (dropped{queue_full} counts it)', async () => {
    const receiver = await PushReceiver.start();
    const t = await startTestServer({ env: env(receiver.url, { PUSH_QUEUE_MAX: '1', PUSH_CONCURRENCY: '1' }) });
    try {
      const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('qf-alice'));
      const expected = new Set<string>();
      // Stored within one sweep's reach of each other: the sweep that finds them claims several at once.
      const acks = await Promise.all(Array.from({ length: 8 }, (_, i) => alice.sendMessage(`qf-m${i}`, `qf-bob${i}`, 'hi')));
      for (const [i, ack] of acks.entries()) expected.add(pushNotificationId(`qf-bob${i}`, String(ack.conversationId), Number(ack.seq)));
      await receiver.until(() => [...expected].every((id) => receiver.received.some((push) => push.payload.id === id && push.status === 200)), 20_000, 'every push');
      assert.ok((await metricValue(t.server.metrics.pushDropped, { reason: 'queue_full' })) > 0, 'the queue did overflow');
      assert.equal(new Set(receiver.received.map((push) => push.payload.id)).size, expected.size);
      await alice.close();
    } finally {
      await t.close();
      await receiver.close();
    }
  });

  it('a failing webhook is logged at warn, at most once a minute, with counts and without the URL or bodies', { timeout: 30_000 }, async () => {
    const receiver = await PushReceiver.start();
    receiver.answer = () => 503;
    const lines: string[] = [];
    const log = createLogger({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const t = await startTestServer({ log, env: env(`${receiver.url}?key=url-secret-123`, { PUSH_RETRY_BASE_MS: '10', PUSH_RETRY_MAX_MS: '50' }) });
    try {
      const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('wf-alice'));
      await alice.sendMessage('wf-m1', 'wf-bob', 'private words');
      await alice.sendMessage('wf-m2', 'wf-carol', 'private words');
      await receiver.until(() => receiver.received.filter((push) => push.status === 503).length >= 6, 15_000, 'several failed POSTs');
      await alice.close();
    } finally {
      await t.close();
      await receiver.close();
    }
    const warned = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'push webhook failing; retrying');
    assert.equal(warned.length, 1, 'one line for a minute of failures, not one per attempt');
    assert.equal(warned[0]!.level, 40, 'warn');
    assert.deepEqual(warned[0]!.reasons, { status: 1 });
    assert.equal(warned[0]!.lastStatus, 503);
    const text = lines.join('');
    assert.ok(!text.includes('url-secret-123') && !text.includes('private words'), 'neither the URL nor a body is logged');
  });

  it('a banned recipient is not pushed (dropped{banned}): a ban stops previews too', { timeout: 30_000 }, async () => {
    const receiver = await PushReceiver.start();
    const KEY = 'bn-server-key-0123456789abcdef0123456789';
    const t = await startTestServer({ env: env(receiver.url, { SERVER_API_KEY: KEY }) });
    try {
      const res = await fetch(`${t.httpUrl}/api/server/users/bn-bob/ban`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(res.status, 200, await res.text());
      const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('bn-alice'));
      const ack = await alice.sendMessage('bn-m1', 'bn-bob', 'content for a banned user');
      await alice.sendMessage('bn-m2', 'bn-carol', 'hi');
      await receiver.until(() => receiver.for('bn-carol').some((push) => push.status === 200), 15_000, "carol's push");
      const pushId = pushNotificationId('bn-bob', String(ack.conversationId), Number(ack.seq));
      const deadline = Date.now() + 15_000;
      while ((await t.store.push.get(pushId))?.status === 'pending' || !(await t.store.push.get(pushId))) {
        assert.ok(Date.now() < deadline, "bob's notification settled");
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const row = await t.store.push.get(pushId);
      assert.deepEqual([row?.status, row?.reason], ['dropped', 'banned']);
      assert.deepEqual(receiver.for('bn-bob'), [], 'no POST for a banned user');
      assert.equal(await metricValue(t.server.metrics.pushDropped, { reason: 'banned' }), 1);
      await alice.close();
    } finally {
      await t.close();
      await receiver.close();
    }
  });

  it('shutdown aborts a POST in flight instead of waiting for the receiver', { timeout: 20_000 }, async () => {
    const receiver = await PushReceiver.start();
    receiver.answer = () => new Promise<number>(() => {}); // never answers
    const t = await startTestServer({ env: env(receiver.url, { PUSH_TIMEOUT_MS: '600000', PUSH_LEASE_MS: '700000' }) });
    try {
      const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('sd-alice'));
      const ack = await alice.sendMessage('sd-m', 'sd-bob', 'hi');
      await receiver.until(() => receiver.for('sd-bob').length === 1, 15_000, 'the POST in flight');
      await alice.close();
      // With a 10-minute POST timeout, only the abort lets close() finish within this test's timeout.
      await t.close();
      const row = await t.store.push.get(pushNotificationId('sd-bob', String(ack.conversationId), Number(ack.seq)));
      assert.equal(row?.status, 'pending', 'left for a take-over after its lease, not counted as sent or failed');
      assert.equal(await metricValue(t.server.metrics.pushFailed, { reason: 'network' }), 0);
    } finally {
      await t.close();
      await receiver.close();
    }
  });
});
