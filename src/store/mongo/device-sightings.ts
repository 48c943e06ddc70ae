// The devices each user was seen with, and their bound (MAX_DEVICES_PER_USER).
//
// A device's first act, whatever it is, copies its user's cursors: a new device starts where its user
// is, with what no device confirmed yet. Every device id a client makes up (a browser tab, a reinstall)
// is a device document and a cursor per conversation, so past the bound the devices seen longest ago
// are forgotten (their document, then their cursors): one that comes back is a new device again, and
// starts where its user is. Without the bound, one account cycling device ids grows the store without end.
//
// Known devices are cached here, so the send and confirmation paths do not look them up every time.
// The connect path (replayTargets) does not trust the cache: it reads the device document, so a device
// forgotten by another process is copied again, not replayed everything from its join point. It also
// moves the device's `lastSeen` (at most once per SEEN_WRITE_MS), which orders what is forgotten.
import { LRUCache } from 'lru-cache';
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import { findByIds } from './find-by-ids.js';
import { CURSOR_PROJECTION, cursorFields, deviceCursorId, deviceId, DUPLICATE_KEY, toCursor, type Collections, type CursorDoc } from './documents.js';
import { insertIfAbsent } from './insert.js';
import type { DeviceCursorCache } from './device-cursor-cache.js';

/** `lastSeen` is written at most this often per device and process: what is forgotten is days old, not minutes. */
const SEEN_WRITE_MS = 3_600_000;

export class DeviceSightings {
  /** Device id → the `lastSeen` this process last wrote or read for it. */
  private readonly seen: LRUCache<string, number>;

  constructor(
    cacheMax: number,
    private readonly maxPerUser: number,
    /** A device's cached cursors go when it is forgotten or seen for the first time (its documents are deleted or copied). */
    private readonly cursorCache?: DeviceCursorCache,
    private readonly onForgotten?: () => void,
  ) {
    this.seen = new LRUCache({ max: Math.max(1, cacheMax) });
  }

  /**
   * Makes sure each (user, device) was seen; for the first sight, copies the user's cursors first.
   * `fresh`: the store says the device has no document, whatever this process remembers.
   */
  async ensure(collections: Collections, devices: readonly { userId: string; deviceId: string }[], fresh = false): Promise<void> {
    const unknown = new Map<string, { userId: string; deviceId: string }>();
    for (const device of devices) {
      const id = deviceId(device.userId, device.deviceId);
      if (fresh || !this.seen.has(id)) unknown.set(id, device);
    }
    if (unknown.size === 0) return;
    const known = await findByIds(collections.devices, collections.idLookup, [...unknown.keys()], { _id: 1, lastSeen: 1, firstSeen: 1 });
    for (const doc of known) {
      this.seen.set(doc._id, Number(doc.lastSeen ?? doc.firstSeen));
      unknown.delete(doc._id);
    }
    for (const device of unknown.values()) await this.firstSight(collections, device.userId, device.deviceId);
  }

  /**
   * The device connects (or syncs): false when the store has no document of it (then `ensure` it,
   * fresh, under the user's lock), whatever this process remembers. Its `lastSeen` moves when it is old.
   * No lock: `lastSeen` is no cursor's business.
   */
  async connected(collections: Collections, userId: string, device: string): Promise<boolean> {
    const id = deviceId(userId, device);
    const doc = await collections.devices.findOne({ _id: id }, { projection: { lastSeen: 1, firstSeen: 1 } });
    if (!doc) return false;
    const now = Date.now();
    const lastSeen = Math.max(Number(doc.lastSeen ?? doc.firstSeen), this.seen.get(id) ?? 0);
    if (now - lastSeen >= SEEN_WRITE_MS) {
      await collections.devices.updateMany({ _id: id }, { $set: { lastSeen: now } });
      this.seen.set(id, now);
    } else {
      this.seen.set(id, lastSeen);
    }
    return true;
  }

  /**
   * Cursors first (only where the device has none: `$setOnInsert`), then the device document: a crash
   * in between leaves an unseen device whose next first sight copies again, skipping what exists. Then
   * the bound.
   */
  private async firstSight(collections: Collections, userId: string, device: string): Promise<void> {
    this.cursorCache?.forgetDevice(userId, device);
    const cursors = await collections.userCursors.find({ userId }, { projection: { conversationId: 1, ...CURSOR_PROJECTION } }).toArray();
    const ops: AnyBulkWriteOperation<CursorDoc>[] = cursors.map((doc) => ({
      updateMany: {
        filter: { _id: deviceCursorId(userId, device, doc.conversationId) },
        update: { $setOnInsert: { userId, deviceId: device, conversationId: doc.conversationId, ...cursorFields(toCursor(doc)!) } },
        upsert: true,
      },
    }));
    await bulkUpsert(collections.deviceCursors, ops);
    const now = Date.now();
    const id = deviceId(userId, device);
    await insertIfAbsent(collections.devices, [{ _id: id, userId, deviceId: device, firstSeen: now, lastSeen: now }]);
    this.seen.set(id, now);
    await this.bound(collections, userId, id);
  }

  /**
   * Forgets the user's devices seen longest ago past the bound (never `keep`, the one just seen). The
   * document first: a device whose document is gone is new again, whatever cursors are left (a copy
   * skips those, as after a crash). Two processes may each forget one: the bound is not exceeded.
   */
  private async bound(collections: Collections, userId: string, keep: string): Promise<void> {
    const count = await collections.devices.countDocuments({ userId });
    if (count <= this.maxPerUser) return;
    const oldest = await collections.devices
      .find({ userId, _id: { $ne: keep } }, { sort: { lastSeen: 1, firstSeen: 1 }, limit: count - this.maxPerUser, projection: { deviceId: 1 } })
      .toArray();
    for (const doc of oldest) {
      const { deletedCount } = await collections.devices.deleteMany({ _id: doc._id });
      this.seen.delete(doc._id);
      // Two processes may forget the same device: the one whose delete found it counts it.
      if (deletedCount > 0) this.onForgotten?.();
      await collections.deviceCursors.deleteMany({ userId, deviceId: doc.deviceId });
      this.cursorCache?.forgetDevice(userId, doc.deviceId);
    }
  }
}

/**
 * `$setOnInsert` upserts; FerretDB v1 can fail two concurrent upserts of one `_id` with E11000 where
 * MongoDB retries by itself: the document exists then, and the retry changes nothing.
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
