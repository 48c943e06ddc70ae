// The UserStore contract, run against the memory store and (when TEST_MONGO_URI is set) MongoDB.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { MongoClient } from 'mongodb';
import { MemoryUserStore } from '../../src/store/memory/memory-users.js';
import { MongoUserStore } from '../../src/store/mongo/mongo-users.js';
import type { UserStore } from '../../src/store/users.js';

interface Variant {
  readonly name: string;
  /** A started store; `again` opens a second store object on the same data (a restart). */
  create(): Promise<{ store: UserStore; again(): Promise<UserStore> }>;
}

const variants: Variant[] = [
  {
    name: 'memory',
    async create() {
      const store = new MemoryUserStore();
      await store.start();
      return { store, again: async () => store };
    },
  },
];
const mongoUri = process.env.TEST_MONGO_URI;
const databases: string[] = [];
const clients: MongoClient[] = [];
if (mongoUri) {
  variants.push({
    name: 'mongo',
    async create() {
      const url = new URL(mongoUri);
      url.pathname = `/t_users_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      databases.push(url.pathname.slice(1));
      const open = async () => {
        // The server shares the message store's client (openStores); here the test owns one per store.
        const client = await new MongoClient(url.toString(), { serverSelectionTimeoutMS: 5000 }).connect();
        clients.push(client);
        const store = new MongoUserStore({ database: () => client.db() });
        await store.start();
        return store;
      };
      return { store: await open(), again: open };
    },
  });
} else if (process.env.REQUIRE_MONGO === '1') {
  throw new Error('REQUIRE_MONGO=1 but TEST_MONGO_URI is not set');
}

after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  if (!mongoUri || databases.length === 0) return;
  const client = new MongoClient(mongoUri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  for (const name of databases) await client.db(name).dropDatabase();
  await client.close();
});

for (const variant of variants) {
  describe(`UserStore contract: ${variant.name}`, () => {
    it('creates an account once; the username is unique ignoring case, and never overwritten', async () => {
      const { store } = await variant.create();
      const created = await store.create('Alice', 'scrypt$hash-1');
      assert.equal(created.kind, 'created');
      assert.equal((await store.create('Alice', 'scrypt$hash-2')).kind, 'taken');
      assert.equal((await store.create('alice', 'scrypt$hash-3')).kind, 'taken');
      const found = await store.find('ALICE');
      assert.equal(found?.username, 'Alice');
      assert.equal(found?.passwordHash, 'scrypt$hash-1');
      assert.ok(typeof found?.createdAt === 'number' && found.createdAt > 0);
      assert.equal(await store.find('bob'), undefined);
      await store.close();
    });

    it('lets exactly one of many concurrent registrations of a name win', async () => {
      const { store } = await variant.create();
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.create(i % 2 ? 'racer' : 'RACER', `scrypt$h${i}`)));
      assert.equal(results.filter((r) => r.kind === 'created').length, 1);
      const winner = results.find((r) => r.kind === 'created');
      assert.equal((await store.find('racer'))?.passwordHash, winner?.kind === 'created' ? winner.user.passwordHash : '');
      await store.close();
    });

    it('keeps accounts across a restart (a new store object on the same data)', async () => {
      const { store, again } = await variant.create();
      await store.create('carol', 'scrypt$c');
      await store.close();
      const reopened = await again();
      assert.equal((await reopened.find('carol'))?.passwordHash, 'scrypt$c');
      await reopened.close();
    });
  });
}
