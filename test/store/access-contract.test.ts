// The AccessStore contract (bans and revocations, src/store/access-store.ts), run through Store.access
// of every configured store: memory always, MongoDB with TEST_MONGO_URI (REQUIRE_MONGO=1: required).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.js';
import { storeVariants } from '../helpers/stores.js';
import { contractFixtures } from './contract.js';

for (const variant of storeVariants()) {
  describe(`AccessStore contract: ${variant.name}`, () => {
    let store: Store;
    const { uid } = contractFixtures();

    before(async () => {
      store = await variant.create();
      await store.access.start();
      await store.access.start(); // a second start (another instance, a restart) is harmless
    });
    after(async () => {
      await store.close();
      await variant.cleanup();
    });

    it('knows nothing of a user never banned nor revoked', async () => {
      assert.equal(await store.access.get(uid('nobody')), undefined);
    });

    it('bans and unbans, keeping the revocation beside it', async () => {
      const user = uid('ban');
      assert.deepEqual(await store.access.ban(user, 1000), { userId: user, bannedAt: 1000, tokensValidAfter: 0, updatedAt: 1000 });
      assert.deepEqual(await store.access.get(user), { userId: user, bannedAt: 1000, tokensValidAfter: 0, updatedAt: 1000 });
      await store.access.revoke(user, 1500);
      assert.deepEqual(await store.access.unban(user, 2000), { userId: user, bannedAt: null, tokensValidAfter: 1500, updatedAt: 2000 });
      assert.deepEqual(await store.access.ban(user, 3000), { userId: user, bannedAt: 3000, tokensValidAfter: 1500, updatedAt: 3000 });
    });

    it('a second ban of a banned user keeps when the ban began', async () => {
      const user = uid('reban');
      await store.access.ban(user, 1000);
      assert.deepEqual(await store.access.ban(user, 4000), { userId: user, bannedAt: 1000, tokensValidAfter: 0, updatedAt: 1000 });
      assert.deepEqual(await store.access.get(user), { userId: user, bannedAt: 1000, tokensValidAfter: 0, updatedAt: 1000 });
    });

    it('unbanning a user never banned leaves a record that restricts nothing', async () => {
      const user = uid('unb');
      assert.deepEqual(await store.access.unban(user, 500), { userId: user, bannedAt: null, tokensValidAfter: 0, updatedAt: 500 });
      assert.ok(!(await store.access.restricted()).some((record) => record.userId === user));
    });

    it('never moves a revocation back, whatever order the writes land in', async () => {
      const user = uid('rev');
      assert.equal((await store.access.revoke(user, 5000)).tokensValidAfter, 5000);
      assert.equal((await store.access.revoke(user, 4000)).tokensValidAfter, 5000);
      assert.equal((await store.access.revoke(user, 6000)).tokensValidAfter, 6000);
      assert.equal((await store.access.get(user))?.bannedAt, null);
    });

    it('concurrent first writes for one user all land (no duplicate-key failure)', async () => {
      const user = uid('race');
      await Promise.all([store.access.revoke(user, 7000), store.access.ban(user, 7001), store.access.revoke(user, 7002)]);
      const record = await store.access.get(user);
      assert.equal(record?.bannedAt, 7001);
      assert.equal(record?.tokensValidAfter, 7002);
    });

    it('many concurrent revocations and a ban of one user (two instances at once): none is lost, the latest revocation holds', async () => {
      const user = uid('many');
      const times = Array.from({ length: 20 }, (_, i) => 8000 + ((i * 7) % 20));
      await Promise.all([...times.map((at) => store.access.revoke(user, at)), store.access.ban(user, 8005)]);
      const record = await store.access.get(user);
      assert.deepEqual(record, { userId: user, bannedAt: 8005, tokensValidAfter: 8019, updatedAt: 8019 });
    });

    it('updatedAt is the latest of the last ban change and the latest revocation', async () => {
      const user = uid('upd');
      await store.access.revoke(user, 9000);
      assert.equal((await store.access.ban(user, 8500)).updatedAt, 9000);
      assert.equal((await store.access.unban(user, 9500)).updatedAt, 9500);
    });

    it('lists the restricted users and the changes since a time', async () => {
      const [banned, revoked, lifted] = [uid('lb'), uid('lr'), uid('ll')];
      await store.access.ban(banned, 10_000);
      await store.access.revoke(revoked, 10_001);
      await store.access.ban(lifted, 10_002);
      await store.access.unban(lifted, 20_000);
      const restricted = new Set((await store.access.restricted()).map((record) => record.userId));
      assert.ok(restricted.has(banned) && restricted.has(revoked));
      assert.ok(!restricted.has(lifted));
      const changed = await store.access.changedSince(15_000);
      assert.ok(changed.some((record) => record.userId === lifted && record.bannedAt === null));
      assert.ok(!changed.some((record) => record.userId === banned || record.userId === revoked));
    });
  });
}
