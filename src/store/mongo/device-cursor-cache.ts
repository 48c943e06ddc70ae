// Device cursors as this process last read or wrote them, with the version (`v`) they had then, so a
// send's or a confirmation's step need not read its device's cursor from the database each time.
//
// Why it is safe to trust: every cursor write is conditional on the version it starts from
// (cursors.ts). A cached entry that another process changed since (the device reconnected elsewhere,
// or an HTTP send named it there) makes the write match nothing; its upsert fails on the `_id`, and the
// writer reads the cursor again, merges and writes: one extra round, never a lost update. A device
// cursor decides nothing without a write: the delivery marks and `advanced` come from the user cursor
// (read every time: a user's devices may be on several processes) and the receipts' unique key, and
// the connect path (replayTargets) reads the device's cursors from the database.
//
// Why only device cursors: one device is connected to one process at a time, so its cursor is nearly
// always written by the process that cached it. A user cursor is shared by the user's devices, which
// may be on several processes, and would miss more often than it hits.
import { LRUCache } from 'lru-cache';
import type { Cursor } from '../store.js';
import { deviceCursorId } from './documents.js';

export interface CachedCursor {
  readonly cursor: Cursor;
  /** The document's `v` when it was read or written (undefined: a document written before versions). */
  readonly version: string | undefined;
}

export class DeviceCursorCache {
  private readonly entries: LRUCache<string, CachedCursor>;

  constructor(max: number) {
    this.entries = new LRUCache({ max: Math.max(1, max) });
  }

  /** By the cursor document's `_id` (deviceCursorId). */
  get(id: string): CachedCursor | undefined {
    return this.entries.get(id);
  }

  note(id: string, cursor: Cursor, version: string | undefined): void {
    this.entries.set(id, { cursor, version });
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  /**
   * Every cursor of a device that was forgotten, or is seen for the first time (a device id reused
   * after it was forgotten): its documents were deleted or are being copied from its user's. Rare (past
   * MAX_DEVICES_PER_USER, or a new device), so a scan of the keys is cheaper than an index kept for it.
   */
  forgetDevice(userId: string, deviceId: string): void {
    const prefix = deviceCursorId(userId, deviceId, '');
    const ids = [...this.entries.keys()].filter((id) => id.startsWith(prefix));
    for (const id of ids) this.entries.delete(id);
  }
}
