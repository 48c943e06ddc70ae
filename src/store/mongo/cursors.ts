// Delivery cursors in MongoDB: read, change in memory, write back, one such step at a time per
// process. A cursor is {upTo, above}; merging two writers' changes needs a read-modify-write, and
// FerretDB v1 has no atomic conditional update to do it in the database. So:
//
// - Within a process every cursor step (a persist batch advancing its senders' cursors, a confirmation
//   batch) holds the lock of each user whose cursors it touches (all of a user's cursors, and a new
//   device's copy of them, are that user's): no update is lost between this process's own batches,
//   and one user's confirmations do not wait for another user's sends (one lock for all made a
//   recipient's confirmation batch and a sender's persist batch take turns).
// - Across processes, a device's cursor is written by the process the device is connected to (and the
//   persist of its own messages, which comes through the same connection). A user's cursor can be
//   written by two processes at once (two devices on two instances); a lost update there is harmless:
//   the delivery mark is the receipt insert, not the cursor, so nothing is marked twice; the cursor
//   only decides where a brand-new device starts and what `advanced` reports.
//
// Writes are `updateMany` on one `_id` with upsert: no `updateOne`, which FerretDB v1 runs holding a
// PostgreSQL connection per matched document until the command ends (docs/store.md, FerretDB notes).
import { findByIds } from './find-by-ids.js';
import { LRUCache } from 'lru-cache';
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import { atLeast, EMPTY_CURSOR } from '../cursor.js';
import type { Cursor } from '../store.js';
import { deviceCursorId, deviceId, DUPLICATE_KEY, toCursor, userCursorId, type Collections, type CursorDoc } from './documents.js';
import { insertIfAbsent } from './insert.js';

export interface CursorKey {
  readonly userId: string;
  readonly deviceId?: string;
  readonly conversationId: string;
}

/** The cursor document's `_id`: one key, one document. */
export const cursorKeyId = (key: CursorKey) => (key.deviceId === undefined ? userCursorId(key.userId, key.conversationId) : deviceCursorId(key.userId, key.deviceId, key.conversationId));

/** The cursors of one step: read once, changed in memory, the changed ones written at the end. */
export class CursorSet {
  private readonly current = new Map<string, { key: CursorKey; cursor: Cursor | undefined; changed: boolean }>();

  private constructor() {}

  /** Reads the cursors of `keys` (two queries: user cursors and device cursors, by `_id`). */
  static async read(collections: Collections, keys: readonly CursorKey[]): Promise<CursorSet> {
    const set = new CursorSet();
    for (const key of keys) set.current.set(cursorKeyId(key), { key, cursor: undefined, changed: false });
    const ids = (device: boolean) => [...set.current.values()].filter((entry) => (entry.key.deviceId !== undefined) === device).map((entry) => cursorKeyId(entry.key));
    const load = async (collection: Collection<CursorDoc>, wanted: string[]) => {
      if (wanted.length === 0) return;
      const docs = await findByIds(collection, collections.idLookup, wanted, { upTo: 1, above: 1 });
      for (const doc of docs) set.current.get(doc._id)!.cursor = toCursor(doc);
    };
    await Promise.all([load(collections.userCursors, ids(false)), load(collections.deviceCursors, ids(true))]);
    return set;
  }

  /** The cursor, at least at the member's join point. */
  get(key: CursorKey, joinSeq: number): Cursor {
    return atLeast(this.current.get(cursorKeyId(key))?.cursor ?? EMPTY_CURSOR, joinSeq);
  }

  set(key: CursorKey, cursor: Cursor): void {
    this.current.set(cursorKeyId(key), { key, cursor, changed: true });
  }

  /** Writes the changed cursors: one unordered bulk of single-document upserts. */
  async write(collections: Collections): Promise<void> {
    const ops = { user: [] as AnyBulkWriteOperation<CursorDoc>[], device: [] as AnyBulkWriteOperation<CursorDoc>[] };
    for (const [id, { key, cursor, changed }] of this.current) {
      if (!changed || !cursor) continue;
      const fields = { userId: key.userId, conversationId: key.conversationId, upTo: cursor.upTo, above: [...cursor.above], ...(key.deviceId !== undefined ? { deviceId: key.deviceId } : {}) };
      (key.deviceId === undefined ? ops.user : ops.device).push({ updateMany: { filter: { _id: id }, update: { $set: fields }, upsert: true } });
    }
    await Promise.all([bulkUpsert(collections.userCursors, ops.user), bulkUpsert(collections.deviceCursors, ops.device)]);
  }
}

/**
 * Upserts; FerretDB v1 can fail two concurrent upserts of one `_id` with E11000 where MongoDB retries
 * by itself: the document exists then, and the retry is a plain update.
 */
async function bulkUpsert(collection: Collection<CursorDoc>, ops: AnyBulkWriteOperation<CursorDoc>[]): Promise<void> {
  if (ops.length === 0) return;
  for (let attempt = 1; ; attempt++) {
    try {
      await collection.bulkWrite(ops, { ordered: false });
      return;
    } catch (error) {
      if (attempt >= 3 || (error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    }
  }
}

/**
 * Devices already seen (a device never becomes unseen, so the cache is never wrong, only forgetful).
 * A device's first act, whatever it is, copies its user's cursors: a new device starts where its user
 * is, with what no device confirmed yet.
 */
export class DeviceSightings {
  private readonly seen: LRUCache<string, true>;

  constructor(max: number) {
    this.seen = new LRUCache({ max: Math.max(1, max) });
  }

  /** Seen before, as far as this process knows (false: ask `ensure`). */
  known(userId: string, device: string): boolean {
    return this.seen.has(deviceId(userId, device));
  }

  /** Makes sure each (user, device) was seen; for the first sight, copies the user's cursors first. */
  async ensure(collections: Collections, devices: readonly { userId: string; deviceId: string }[]): Promise<void> {
    const unknown = new Map<string, { userId: string; deviceId: string }>();
    for (const device of devices) {
      const id = deviceId(device.userId, device.deviceId);
      if (!this.seen.has(id)) unknown.set(id, device);
    }
    if (unknown.size === 0) return;
    const known = await findByIds(collections.devices, collections.idLookup, [...unknown.keys()], { _id: 1 });
    for (const doc of known) {
      this.seen.set(doc._id, true);
      unknown.delete(doc._id);
    }
    for (const [id, device] of unknown) {
      await this.firstSight(collections, device.userId, device.deviceId);
      this.seen.set(id, true);
    }
  }

  /**
   * Cursors first (only where the device has none: `$setOnInsert`), then the device document: a crash
   * in between leaves an unseen device whose next first sight copies again, skipping what exists.
   */
  private async firstSight(collections: Collections, userId: string, device: string): Promise<void> {
    const cursors = await collections.userCursors.find({ userId }, { projection: { conversationId: 1, upTo: 1, above: 1 } }).toArray();
    const ops: AnyBulkWriteOperation<CursorDoc>[] = cursors.map((doc) => ({
      updateMany: {
        filter: { _id: deviceCursorId(userId, device, doc.conversationId) },
        update: { $setOnInsert: { userId, deviceId: device, conversationId: doc.conversationId, upTo: Number(doc.upTo), above: (doc.above ?? []).map(Number) } },
        upsert: true,
      },
    }));
    await bulkUpsert(collections.deviceCursors, ops);
    await insertIfAbsent(collections.devices, [{ _id: deviceId(userId, device), userId, deviceId: device, firstSeen: Date.now() }]);
  }
}
