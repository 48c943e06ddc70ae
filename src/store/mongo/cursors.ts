// Delivery cursors in MongoDB: read, change in memory, write back. A cursor is {upTo, runs}; merging
// two writers' changes needs a read-modify-write, and FerretDB v1 has no atomic update that could do
// it in the database. So:
//
// - Within a process every cursor step (a persist batch advancing its senders' cursors, a confirmation
//   batch) holds the lock of each user whose cursors it touches (all of a user's cursors, and a new
//   device's copy of them, are that user's): no update is lost between this process's own batches,
//   and one user's confirmations do not wait for another user's sends (one lock for all made a
//   recipient's confirmation batch and a sender's persist batch take turns).
// - Across processes, and against a write that outlived its caller (a process killed, or a write whose
//   socket timed out, that the database still runs later), each write is conditional on the version it
//   read: `v`, unique per write. A write over a version that changed meanwhile matches nothing, and its
//   upsert fails on the `_id` (E11000); the writer reads the cursor again, merges (cursors only grow:
//   the union is right) and writes again. A stale write never sets a cursor back: for a device cursor
//   that would replay messages the device had confirmed (the receipt keeps the mark from being made
//   twice, but the message would be sent again).
//
// Writes are `updateMany` on one `_id` with upsert: no `updateOne`, which FerretDB v1 runs holding a
// PostgreSQL connection per matched document until the command ends (docs/store.md, FerretDB notes).
import { findByIds } from './find-by-ids.js';
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import { randomBytes } from 'node:crypto';
import { atLeast, EMPTY_CURSOR, union } from '../cursor.js';
import type { Cursor } from '../store.js';
import { CURSOR_PROJECTION, cursorFields, deviceCursorId, DUPLICATE_KEY, toCursor, userCursorId, type Collections, type CursorDoc } from './documents.js';
import type { DeviceCursorCache } from './device-cursor-cache.js';

export interface CursorKey {
  readonly userId: string;
  readonly deviceId?: string;
  readonly conversationId: string;
}

/** The cursor document's `_id`: one key, one document. */
export const cursorKeyId = (key: CursorKey) => (key.deviceId === undefined ? userCursorId(key.userId, key.conversationId) : deviceCursorId(key.userId, key.deviceId, key.conversationId));

/** Write versions: this process's random prefix and a counter, so no two writes anywhere share one. */
const VERSION_PREFIX = randomBytes(6).toString('base64url');
let versionCounter = 0;
const nextVersion = () => `${VERSION_PREFIX}${(versionCounter++).toString(36)}`;

/** Rounds of read-merge-write a cursor write tries before it fails (the step fails: the client retries). */
const WRITE_ATTEMPTS = 5;

interface Entry {
  key: CursorKey;
  cursor: Cursor | undefined;
  /** The version read (undefined: no document, or one written before versions). */
  version: string | undefined;
  changed: boolean;
}

/** The cursors of one step: read once, changed in memory, the changed ones written at the end. */
export class CursorSet {
  private readonly current = new Map<string, Entry>();

  private constructor(private readonly deviceCache: DeviceCursorCache | undefined) {}

  /**
   * Reads the cursors of `keys` (two queries: user cursors and device cursors, by `_id`). Device cursors
   * in `deviceCache` are taken from it, with the version they had (device-cursor-cache.ts: a write over
   * a version that changed meanwhile reads again); what is read from the database goes into it.
   */
  static async read(collections: Collections, keys: readonly CursorKey[], deviceCache?: DeviceCursorCache): Promise<CursorSet> {
    const set = new CursorSet(deviceCache);
    const toRead: Entry[] = [];
    for (const key of keys) {
      const cached = deviceCache?.get(key);
      const entry: Entry = { key, cursor: cached?.cursor, version: cached?.version, changed: false };
      set.current.set(cursorKeyId(key), entry);
      if (!cached) toRead.push(entry);
    }
    const entries = (device: boolean) => toRead.filter((entry) => (entry.key.deviceId !== undefined) === device);
    await Promise.all([set.load(collections, collections.userCursors, entries(false), false), set.load(collections, collections.deviceCursors, entries(true), false)]);
    return set;
  }

  /** The cursor, at least at the member's join point. */
  get(key: CursorKey, joinSeq: number): Cursor {
    return atLeast(this.current.get(cursorKeyId(key))?.cursor ?? EMPTY_CURSOR, joinSeq);
  }

  set(key: CursorKey, cursor: Cursor): void {
    const entry = this.current.get(cursorKeyId(key));
    if (entry) Object.assign(entry, { cursor, changed: true });
    else this.current.set(cursorKeyId(key), { key, cursor, version: undefined, changed: true });
  }

  /** Writes the changed cursors: per collection one unordered bulk of single-document conditional upserts. */
  async write(collections: Collections): Promise<void> {
    const changed = (device: boolean) => [...this.current.values()].filter((entry) => entry.changed && entry.cursor && (entry.key.deviceId !== undefined) === device);
    await Promise.all([this.writeAll(collections, collections.userCursors, changed(false)), this.writeAll(collections, collections.deviceCursors, changed(true))]);
  }

  /**
   * Each entry over the version it read. On E11000 (a version changed under us, or FerretDB v1 failing
   * two concurrent upserts of one `_id`, which MongoDB retries by itself) every entry is read again and
   * merged, and all are written again: FerretDB v1 stops an unordered bulk at its first error, so which
   * of the others were applied is unknown, and writing a union twice is harmless.
   */
  private async writeAll(collections: Collections, collection: Collection<CursorDoc>, entries: Entry[]): Promise<void> {
    if (entries.length === 0) return;
    for (let attempt = 1; ; attempt++) {
      const versions = entries.map(nextVersion);
      const ops: AnyBulkWriteOperation<CursorDoc>[] = entries.map((entry, i) => {
        const { key } = entry;
        const cursor = entry.cursor!;
        const fields = { userId: key.userId, conversationId: key.conversationId, ...cursorFields(cursor), v: versions[i]!, ...(key.deviceId !== undefined ? { deviceId: key.deviceId } : {}) };
        const filter = { _id: cursorKeyId(key), v: entry.version ?? { $exists: false } };
        return { updateMany: { filter, update: { $set: fields }, upsert: true } };
      });
      try {
        await collection.bulkWrite(ops, { ordered: false });
        // Written: a later write of this set goes over these versions.
        entries.forEach((entry, i) => Object.assign(entry, { version: versions[i], changed: false }));
        this.remember(entries);
        return;
      } catch (error) {
        if (attempt >= WRITE_ATTEMPTS || (error as { code?: number }).code !== DUPLICATE_KEY) {
          // Landed or not, unknown: the next step reads these from the database.
          for (const entry of entries) this.deviceCache?.forget(entry.key);
          throw error;
        }
      }
      await this.load(collections, collection, entries, true);
    }
  }

  /** Reads `entries`' documents; `merge`: into what they hold (a write lost a race), else as they are. */
  private async load(collections: Collections, collection: Collection<CursorDoc>, entries: Entry[], merge: boolean): Promise<void> {
    if (entries.length === 0) return;
    const byId = new Map(entries.map((entry) => [cursorKeyId(entry.key), entry]));
    if (merge) for (const entry of entries) entry.version = undefined; // absent unless read again
    const docs = await findByIds(collection, collections.idLookup, [...byId.keys()], { ...CURSOR_PROJECTION, v: 1 });
    for (const doc of docs) {
      const entry = byId.get(doc._id)!;
      const stored = toCursor(doc)!;
      entry.cursor = merge && entry.cursor ? union(entry.cursor, stored) : stored;
      entry.version = doc.v;
    }
    // A merged entry is not what the database holds until it is written (then it is remembered).
    if (!merge) this.remember(entries.filter((entry) => entry.cursor !== undefined));
  }

  /** Device cursors as the database now holds them, for the next step (device-cursor-cache.ts). */
  private remember(entries: readonly Entry[]): void {
    for (const entry of entries) if (entry.cursor) this.deviceCache?.note(entry.key, entry.cursor, entry.version);
  }
}
