// Cursor writes on MongoDB (src/store/mongo/cursors.ts) against a write that lost a race: another
// process's, or one that outlived its caller (a killed process, a timed-out socket) and that the
// database runs late. Such a write read the cursor before the other changed it; applied as read, it
// would set the cursor back, and a device cursor set back replays messages its device had confirmed.
// Each write applies only over the version it read, else reads again and writes the union. Mongo only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MongoClient, type Db } from 'mongodb';
import { advance, MAX_GAPS } from '../../src/store/cursor.js';
import { CursorSet, type CursorKey } from '../../src/store/mongo/cursors.js';
import { DeviceCursorCache } from '../../src/store/mongo/device-cursor-cache.js';
import { collectionsOf, deviceCursorId, userCursorId, type Collections } from '../../src/store/mongo/documents.js';
import { mongoTestUri, TestDatabases } from '../helpers/mongo.js';
import { skipReason } from '../helpers/skips.js';

const baseUri = mongoTestUri();

describe('Mongo cursor writes', { skip: baseUri ? false : skipReason('mongo') }, () => {
  const databases = new TestDatabases(baseUri ?? 'mongodb://unused', 'cursors');
  let client: MongoClient;
  let db: Db;
  let collections: Collections;
  const device: CursorKey = { userId: 'u1', deviceId: 'phone', conversationId: 'c1' };
  const user: CursorKey = { userId: 'u1', conversationId: 'c1' };
  const stored = async () => ({
    device: await collections.deviceCursors.findOne({ _id: deviceCursorId('u1', 'phone', 'c1') }),
    user: await collections.userCursors.findOne({ _id: userCursorId('u1', 'c1') }),
  });

  before(async () => {
    const uri = databases.fresh();
    client = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 5000 });
    db = client.db(new URL(uri).pathname.slice(1));
    collections = collectionsOf(db);
  });
  after(async () => {
    await client?.close();
    await databases.drop();
  });

  it('a late write over a cursor that changed since it read it merges into it instead of setting it back', async () => {
    // Both writers read before either wrote: no documents yet.
    const late = await CursorSet.read(collections, [device, user]);
    const current = await CursorSet.read(collections, [device, user]);
    current.set(device, { upTo: 5, runs: [8, 8] });
    current.set(user, { upTo: 5, runs: [8, 8] });
    await current.write(collections);
    late.set(device, { upTo: 2, runs: [4, 4, 6, 6] });
    late.set(user, { upTo: 2, runs: [4, 4, 6, 6] });
    await late.write(collections);
    let now = await stored();
    assert.deepEqual([now.device?.upTo, now.device?.runs], [6, [8, 8]], 'the device cursor holds both writes (4 and 6 were the late one\'s, 1..5 and 8 the other\'s)');
    assert.deepEqual([now.user?.upTo, now.user?.runs], [6, [8, 8]], 'the user cursor too');

    // Both read the same version of existing documents; the later write to land read the older state.
    const stale = await CursorSet.read(collections, [device]);
    const fresh = await CursorSet.read(collections, [device]);
    fresh.set(device, { upTo: 9, runs: [] });
    await fresh.write(collections);
    stale.set(device, { upTo: 7, runs: [] });
    await stale.write(collections);
    now = await stored();
    assert.equal(now.device?.upTo, 9, 'a write from a stale read does not set the cursor back');
  });

  it('writes over a document written before versions existed', async () => {
    await collections.deviceCursors.insertOne({ _id: deviceCursorId('u2', 'phone', 'c1'), userId: 'u2', deviceId: 'phone', conversationId: 'c1', upTo: 3, above: [] });
    const key: CursorKey = { userId: 'u2', deviceId: 'phone', conversationId: 'c1' };
    const set = await CursorSet.read(collections, [key]);
    assert.equal(set.get(key, 0).upTo, 3);
    set.set(key, { upTo: 4, runs: [] });
    await set.write(collections);
    const doc = await collections.deviceCursors.findOne({ _id: deviceCursorId('u2', 'phone', 'c1') });
    assert.equal(doc?.upTo, 4);
    assert.equal(typeof doc?.v, 'string', 'written with a version');
  });

  it('reads and writes both forms during a rolling upgrade: runs, and the seqs one by one an instance from before runs reads and adds to', async () => {
    const key: CursorKey = { userId: 'u4', deviceId: 'phone', conversationId: 'c1' };
    const id = deviceCursorId('u4', 'phone', 'c1');
    // Written by an instance from before runs: seqs one by one.
    await collections.deviceCursors.insertOne({ _id: id, userId: 'u4', deviceId: 'phone', conversationId: 'c1', upTo: 1, above: [3, 4, 5, 9] });
    let set = await CursorSet.read(collections, [key]);
    assert.deepEqual(set.get(key, 0), { upTo: 1, runs: [3, 5, 9, 9] });
    set.set(key, advance(set.get(key, 0), [20]).cursor);
    await set.write(collections);
    let doc = await collections.deviceCursors.findOne({ _id: id });
    assert.deepEqual([doc?.runs, doc?.above], [[3, 5, 9, 9, 20, 20], [3, 4, 5, 9, 20]], 'runs, and the same one by one for an old reader');
    // An old instance adds 7 to `above` alone (it knows nothing of runs); both are read, joined.
    await collections.deviceCursors.updateMany({ _id: id }, { $set: { above: [3, 4, 5, 7, 9, 20] }, $unset: { v: '' } });
    set = await CursorSet.read(collections, [key]);
    assert.deepEqual(set.get(key, 0), { upTo: 1, runs: [3, 5, 7, 7, 9, 9, 20, 20] });
    // A run longer than the old form holds: the runs keep all of it, the seqs the first MAX_GAPS.
    set.set(key, advance(set.get(key, 0), Array.from({ length: 3000 }, (_, i) => 100 + i)).cursor);
    await set.write(collections);
    doc = await collections.deviceCursors.findOne({ _id: id });
    assert.deepEqual(doc?.runs, [3, 5, 7, 7, 9, 9, 20, 20, 100, 3099]);
    assert.equal(doc?.above?.length, MAX_GAPS);
    // An old instance confirms through 30: it writes `upTo` and `above`, and the runs it does not know
    // of are left below its watermark. They are read as covered by it, not as runs above it.
    await collections.deviceCursors.updateMany({ _id: id }, { $set: { upTo: 30, above: Array.from({ length: 3000 }, (_, i) => 100 + i) }, $unset: { v: '' } });
    assert.deepEqual((await CursorSet.read(collections, [key])).get(key, 0), { upTo: 30, runs: [100, 3099] });
  });

  it('a device cursor cached by one process and moved since by another is merged into, not set back', async () => {
    // Two processes' caches. The device confirms through A, then through B (it reconnected there), then
    // through A again, whose cached copy is B's write behind.
    const key: CursorKey = { userId: 'u3', deviceId: 'phone', conversationId: 'c1' };
    const [onA, onB] = [new DeviceCursorCache(100), new DeviceCursorCache(100)];
    const step = async (cache: DeviceCursorCache, cursor: { upTo: number; runs: number[] }) => {
      const set = await CursorSet.read(collections, [key], cache);
      const before = set.get(key, 0);
      set.set(key, cursor);
      await set.write(collections);
      return before;
    };
    await step(onA, { upTo: 3, runs: [] });
    assert.deepEqual(await step(onB, { upTo: 3, runs: [5, 5] }), { upTo: 3, runs: [] }, 'B read what A wrote');
    const seenByA = await step(onA, { upTo: 4, runs: [] });
    assert.deepEqual(seenByA, { upTo: 3, runs: [] }, 'A took its cached copy, without reading B\'s write');
    const doc = await collections.deviceCursors.findOne({ _id: deviceCursorId('u3', 'phone', 'c1') });
    assert.deepEqual([doc?.upTo, doc?.runs, doc?.above], [5, [], []], 'A\'s write over the stale version read again and merged: 1..4 and B\'s 5');
    assert.deepEqual(onA.get(key)?.cursor, { upTo: 5, runs: [] }, 'and A\'s cache holds what it wrote');

    // A device forgotten (or seen anew) is read from the database again.
    await collections.deviceCursors.updateMany({ _id: deviceCursorId('u3', 'phone', 'c1') }, { $set: { upTo: 9, v: 'elsewhere' } });
    assert.equal((await CursorSet.read(collections, [key], onA)).get(key, 0).upTo, 5, 'cached');
    onA.forgetDevice('u3', 'phone');
    assert.equal((await CursorSet.read(collections, [key], onA)).get(key, 0).upTo, 9, 'read again after forgetDevice');
  });
});
