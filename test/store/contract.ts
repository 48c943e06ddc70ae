// The Store contract: every implementation runs this same suite (test/store/*.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SortKeyClock } from '../../src/store/sort-key.js';
import type { NewMessage, Store } from '../../src/store/store.js';
import type { StoreVariant } from '../helpers/stores.js';

export function runStoreContract(variant: StoreVariant): void {
  describe(`Store contract: ${variant.name}`, () => {
    let store: Store;
    const clock = new SortKeyClock();
    let n = 0;
    const uid = (prefix: string) => `${prefix}${Date.now().toString(36)}${(n++).toString(36)}`;
    const message = (overrides: Partial<NewMessage> = {}): NewMessage => {
      const seq = clock.next();
      return { messageId: uid('m'), from: 'alice', to: uid('u'), body: 'hello', ts: Math.floor(seq / 1024), seq, ...overrides };
    };

    before(async () => {
      store = await variant.create();
    });
    after(async () => {
      await store.close();
      await variant.cleanup();
    });

    it('stores a new message once and returns it unchanged', async () => {
      const m = message({ body: 'héllo 👋 "quoted" \\ back' });
      const result = await store.persist(m);
      assert.equal(result.kind, 'created');
      assert.deepEqual(await store.getMessage(m.messageId), m);
      assert.deepEqual(await store.deliveryState(m.messageId, m.to), { status: 'pending', deliveredAt: undefined, marks: 0 });
    });

    it('treats a retry with the same content as a duplicate and keeps the original ts and seq', async () => {
      const m = message();
      await store.persist(m);
      const before = await store.counts();
      const retry = await store.persist({ ...m, ts: m.ts + 5000, seq: clock.next() });
      assert.equal(retry.kind, 'duplicate');
      assert.ok(retry.kind === 'duplicate');
      assert.equal(retry.message.ts, m.ts);
      assert.equal(retry.message.seq, m.seq);
      const afterCounts = await store.counts();
      assert.equal(afterCounts.messages, before.messages);
      assert.equal(afterCounts.persists, before.persists);
    });

    it('refuses another body, sender or recipient under an existing messageId and never changes the stored one', async () => {
      const m = message();
      await store.persist(m);
      for (const change of [{ body: 'changed' }, { from: 'mallory' }, { to: 'someone-else' }]) {
        const result = await store.persist({ ...m, ...change, seq: clock.next() });
        assert.deepEqual(result, { kind: 'conflict', messageId: m.messageId });
      }
      assert.deepEqual(await store.getMessage(m.messageId), m);
    });

    it('stores exactly one of many concurrent persists of one messageId', async () => {
      const m = message();
      const results = await Promise.all(Array.from({ length: 10 }, () => store.persist({ ...m, seq: clock.next() })));
      assert.equal(results.filter((r) => r.kind === 'created').length, 1);
      assert.equal(results.filter((r) => r.kind === 'duplicate').length, 9);
    });

    it('lists pending messages in accept order (seq), not messageId order, including same-millisecond sends', async () => {
      const to = uid('order');
      const ids = ['zz', 'aa', 'mm', '00', 'ZZ'].map((p) => `${p}${uid('')}`);
      const sent: NewMessage[] = [];
      for (const messageId of ids) {
        const m = message({ messageId, to, ts: 1_700_000_000_000 });
        sent.push(m);
      }
      // Persist concurrently: they may land in one batch, order must still be by seq.
      await Promise.all(sent.map((m) => store.persist(m)));
      const page = await store.pendingFor(to, undefined, 100);
      assert.deepEqual(page.messages.map((m) => m.messageId), ids);
      assert.equal(page.next, undefined);
    });

    it('pages through pending messages without gaps or repeats', async () => {
      const to = uid('pages');
      const sent: NewMessage[] = [];
      for (let i = 0; i < 25; i++) sent.push(message({ to, body: `m${i}` }));
      await Promise.all(sent.map((m) => store.persist(m)));
      const seen: string[] = [];
      let after: number | undefined;
      let pages = 0;
      do {
        const page = await store.pendingFor(to, after, 10);
        assert.ok(page.messages.length <= 10);
        seen.push(...page.messages.map((m) => m.messageId));
        after = page.next;
        pages++;
      } while (after !== undefined && pages < 10);
      assert.deepEqual(seen, sent.map((m) => m.messageId));
      assert.ok(pages >= 3);
    });

    it('lists only the user’s own pending messages', async () => {
      const bob = uid('bob');
      const carol = uid('carol');
      await store.persist(message({ to: bob }));
      await store.persist(message({ to: carol }));
      const page = await store.pendingFor(bob, undefined, 100);
      assert.equal(page.messages.length, 1);
      assert.equal(page.messages[0]!.to, bob);
    });

    it('marks a delivery exactly once and stops listing it', async () => {
      const m = message();
      await store.persist(m);
      const first = await store.markDelivered(m.to, [m.messageId, m.messageId]);
      assert.equal(first.length, 1);
      assert.equal(first[0]!.messageId, m.messageId);
      assert.equal(first[0]!.from, m.from);
      assert.equal(first[0]!.ts, m.ts);
      assert.deepEqual(await store.markDelivered(m.to, [m.messageId]), []);
      const state = await store.deliveryState(m.messageId, m.to);
      assert.equal(state?.status, 'delivered');
      assert.equal(state?.marks, 1);
      assert.ok(typeof state?.deliveredAt === 'number');
      assert.equal((await store.pendingFor(m.to, undefined, 10)).messages.length, 0);
    });

    it('marks exactly once when confirmations race', async () => {
      const m = message();
      await store.persist(m);
      const results = await Promise.all(Array.from({ length: 10 }, () => store.markDelivered(m.to, [m.messageId])));
      assert.equal(results.flat().length, 1);
      assert.equal((await store.deliveryState(m.messageId, m.to))?.marks, 1);
    });

    it('ignores confirmations of messages addressed to someone else, and unknown ids', async () => {
      const m = message();
      await store.persist(m);
      assert.deepEqual(await store.markDelivered('mallory', [m.messageId, 'no-such-id']), []);
      assert.equal((await store.deliveryState(m.messageId, m.to))?.status, 'pending');
      assert.equal((await store.pendingFor(m.to, undefined, 10)).messages.length, 1);
    });

    it('counts messages, deliveries and marks', async () => {
      const before = await store.counts();
      const m = message();
      await store.persist(m);
      await store.persist(m);
      await store.markDelivered(m.to, [m.messageId]);
      await store.markDelivered(m.to, [m.messageId]);
      const now = await store.counts();
      assert.equal(now.messages - before.messages, 1);
      assert.equal(now.deliveries - before.deliveries, 1);
      assert.equal(now.delivered - before.delivered, 1);
      assert.equal(now.persists - before.persists, 1);
      assert.equal(now.deliveryMarks - before.deliveryMarks, 1);
    });

    it('handles many concurrent sends to one recipient in order', async () => {
      const to = uid('burst');
      const sent = Array.from({ length: 300 }, (_, i) => message({ to, body: `burst ${i}` }));
      const results = await Promise.all(sent.map((m) => store.persist(m)));
      assert.ok(results.every((r) => r.kind === 'created'));
      const listed: string[] = [];
      let after: number | undefined;
      do {
        const page = await store.pendingFor(to, after, 128);
        listed.push(...page.messages.map((m) => m.messageId));
        after = page.next;
      } while (after !== undefined);
      assert.deepEqual(listed, sent.map((m) => m.messageId));
    });

    it('answers ping', async () => {
      await store.ping();
    });
  });
}
