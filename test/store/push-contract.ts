// The PushStore contract (src/store/push-store.ts): what the offline-push sweeper relies on, run
// against every store (push-store-contract.test.ts). Fresh ids per test, so tests share one store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NewPushNotification } from '../../src/store/push-store.js';
import type { Store } from '../../src/store/store.js';
import type { StoreVariant } from '../helpers/stores.js';
import { contractFixtures } from './contract.js';

export function runPushContract(variant: StoreVariant): void {
  describe(`PushStore contract: ${variant.name}`, () => {
    let store: Store;
    const { uid, direct } = contractFixtures();
    const notification = (overrides: Partial<NewPushNotification> = {}): NewPushNotification => ({
      id: uid('p'), userId: uid('u'), conversationId: uid('c'), seq: 1, messageId: uid('m'), from: uid('f'),
      ts: 1000, nextAttemptAt: 1000, claimedBy: 'a', leaseUntil: 0, createdAt: 1000, ...overrides,
    });

    before(async () => {
      store = await variant.create();
      await store.push.prepare();
      await store.push.prepare(); // idempotent: every instance prepares at every start
    });
    after(async () => {
      await store.close();
      await variant.cleanup();
    });

    it('claims a notification id once: a second insert of the same id is refused and changes nothing', async () => {
      const first = notification();
      assert.equal(await store.push.claimNew(first), true);
      assert.equal(await store.push.claimNew({ ...first, claimedBy: 'b', seq: 9 }), false);
      const stored = await store.push.get(first.id);
      assert.deepEqual(stored, { ...first, status: 'pending', reason: null, attempts: 0, doneAt: null });
      assert.equal(await store.push.get(uid('nope')), undefined);
    });

    it('of concurrent claims of one id exactly one wins', async () => {
      const one = notification();
      const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((owner) => store.push.claimNew({ ...one, claimedBy: owner })));
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('due() lists pending notifications past nextAttemptAt whose lease ended, soonest first; take-over is by expected lease', async () => {
      // Far-future times: other tests' rows (times around 1000) are due too and sort first; a limit keeps this test's view.
      const base = 9_000_000_000_000;
      const free = notification({ nextAttemptAt: base + 20, leaseUntil: 0 });
      const leased = notification({ nextAttemptAt: base + 10, leaseUntil: base + 500 });
      const later = notification({ nextAttemptAt: base + 400, leaseUntil: 0 });
      for (const n of [free, leased, later]) assert.equal(await store.push.claimNew(n), true);
      const ids = async (now: number) => (await store.push.due(now, 10_000)).filter((n) => [free.id, leased.id, later.id].includes(n.id)).map((n) => n.id);
      assert.deepEqual(await ids(base + 100), [free.id]);
      assert.deepEqual(await ids(base + 500), [leased.id, free.id, later.id]);
      // Taking over with a stale lease fails; with the one read, it succeeds once.
      assert.equal(await store.push.takeOver(leased.id, 0, 'b', base + 2000), false);
      assert.equal(await store.push.takeOver(leased.id, base + 500, 'b', base + 2000), true);
      assert.equal(await store.push.takeOver(leased.id, base + 500, 'c', base + 2000), false);
      const taken = await store.push.get(leased.id);
      assert.deepEqual([taken?.claimedBy, taken?.leaseUntil], ['b', base + 2000]);
      assert.deepEqual(await ids(base + 600), [free.id, later.id]);
    });

    it('reschedule records attempts and the next time and releases the lease; finish ends it for good', async () => {
      const n = notification({ leaseUntil: 5000 });
      await store.push.claimNew(n);
      await store.push.reschedule(n.id, 2, 7000);
      let stored = await store.push.get(n.id);
      assert.deepEqual([stored?.status, stored?.attempts, stored?.nextAttemptAt, stored?.leaseUntil], ['pending', 2, 7000, 0]);
      await store.push.finish(n.id, 'dropped', 'delivered', 2, 7100);
      stored = await store.push.get(n.id);
      assert.deepEqual([stored?.status, stored?.reason, stored?.attempts, stored?.doneAt], ['dropped', 'delivered', 2, 7100]);
      // A finished notification stays finished: no reschedule, no second finish, no take-over, not due.
      await store.push.reschedule(n.id, 3, 8000);
      await store.push.finish(n.id, 'sent', null, 3, 8000);
      assert.equal(await store.push.takeOver(n.id, 0, 'x', 9000), false);
      stored = await store.push.get(n.id);
      assert.deepEqual([stored?.status, stored?.reason, stored?.attempts], ['dropped', 'delivered', 2]);
      assert.equal((await store.push.due(1e15, 100_000)).some((d) => d.id === n.id), false);
    });

    it('a slot only moves forward', async () => {
      const [user, conversation] = [uid('u'), uid('c')];
      assert.equal(await store.push.slot(user, conversation), undefined);
      await store.push.noteScheduled(user, conversation, 5, 100);
      await store.push.noteScheduled(user, conversation, 3, 50);
      assert.deepEqual(await store.push.slot(user, conversation), { lastSeq: 5, lastAt: 100, lastSentAt: 0 });
      await store.push.noteSent(user, conversation, 300);
      await store.push.noteSent(user, conversation, 200);
      await store.push.noteScheduled(user, conversation, 7, 400);
      assert.deepEqual(await store.push.slot(user, conversation), { lastSeq: 7, lastAt: 400, lastSentAt: 300 });
      // Two instances creating one slot at once: neither fails (an upsert race is retried), the slot
      // exists, and each field is its raised value or (FerretDB v1 losing a concurrent raise) untouched.
      const [u2, c2] = [uid('u'), uid('c')];
      await Promise.all([store.push.noteScheduled(u2, c2, 1, 10), store.push.noteSent(u2, c2, 20)]);
      const slot = await store.push.slot(u2, c2);
      assert.ok(slot, 'the slot exists');
      assert.ok([0, 1].includes(slot.lastSeq) && [0, 10].includes(slot.lastAt) && [0, 20].includes(slot.lastSentAt), JSON.stringify(slot));
      if (variant.name === 'memory') assert.deepEqual(slot, { lastSeq: 1, lastAt: 10, lastSentAt: 20 });
    });

    it('the scan checkpoint starts unset and only moves forward', async () => {
      const fresh = await variant.create();
      try {
        assert.equal(await fresh.push.scanCheckpoint(), undefined);
        await fresh.push.saveScanCheckpoint(500);
        await fresh.push.saveScanCheckpoint(700);
        await fresh.push.saveScanCheckpoint(100);
        assert.equal(await fresh.push.scanCheckpoint(), 700);
        // Two instances at once: never lowered below what either had before; FerretDB v1's $max is a
        // read-modify-write, so the lower of two concurrent raises can win (a restart rescans a little more).
        await Promise.all([fresh.push.saveScanCheckpoint(900), fresh.push.saveScanCheckpoint(800)]);
        assert.ok([800, 900].includes((await fresh.push.scanCheckpoint())!));
      } finally {
        await fresh.close();
      }
    });

    it('messagesBetween pages messages by (ts, messageId) within a ts range', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      // ts far from the fixtures' clock so other tests' messages stay out of the range.
      const base = 8_000_000_000_000 + Math.floor(Math.random() * 1e9);
      const stored = [];
      for (const [i, ts] of [base + 1, base + 2, base + 2, base + 2, base + 3, base + 9].entries()) {
        const result = await store.persist(direct(alice, bob, { ts, messageId: `pm${base}-${i}` }));
        assert.equal(result.kind, 'created');
        stored.push(result.kind === 'created' ? result.message : undefined!);
      }
      const all = await store.push.messagesBetween(base + 1, base + 3, undefined, 100);
      assert.deepEqual(all.map((m) => m.messageId), stored.slice(0, 5).map((m) => m.messageId));
      assert.deepEqual(all[0], stored[0]);
      // Pages of 2 from a position inside a run of equal ts: nothing repeated, nothing skipped.
      const paged = [];
      let position;
      for (;;) {
        const page = await store.push.messagesBetween(base + 1, base + 3, position, 2);
        if (page.length === 0) break;
        paged.push(...page);
        const last = page[page.length - 1]!;
        position = { ts: last.ts, messageId: last.messageId };
      }
      assert.deepEqual(paged.map((m) => m.messageId), all.map((m) => m.messageId));
    });

    it('deliveredSeq is the user-level delivered position: join seq, raised by any device confirming; undefined for a non-member', async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await store.persist(direct(alice, bob)));
      const message = results[2]!.kind === 'created' ? results[2]!.message : assert.fail('not created');
      const { conversationId } = message;
      assert.equal(await store.push.deliveredSeq(bob, conversationId), 0);
      await store.confirmUpTo(bob, 'phone', conversationId, 1);
      assert.equal(await store.push.deliveredSeq(bob, conversationId), 1);
      // Another device confirming only the newest: the position is the highest seq confirmed.
      const third = results[2]!.kind === 'created' ? results[2]!.message.messageId : '';
      await store.confirmIds(bob, 'laptop', [third]);
      assert.equal(await store.push.deliveredSeq(bob, conversationId), 3);
      // The sender has its own messages.
      assert.equal(await store.push.deliveredSeq(alice, conversationId), 3);
      assert.equal(await store.push.deliveredSeq(uid('stranger'), conversationId), undefined);
    });
  });
}
