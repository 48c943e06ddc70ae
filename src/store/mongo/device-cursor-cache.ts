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
import type { CursorKey } from './cursors.js';
import { deviceId } from './documents.js';

export interface CachedCursor {
  readonly cursor: Cursor;
  /** The document's `v` when it was read or written (undefined: a document written before versions). */
  readonly version: string | undefined;
}

export class DeviceCursorCache {
  /**
   * Per device, its cursors by conversation: a device is dropped whole (forgotten, or seen anew) in
   * one step. Bounded by the cursors held in all, least recently used devices first.
   */
  private readonly devices: LRUCache<string, Map<string, CachedCursor>>;

  constructor(maxCursors: number) {
    this.devices = new LRUCache({ maxSize: Math.max(1, maxCursors), sizeCalculation: (cursors) => Math.max(1, cursors.size) });
  }

  /** A device cursor's cached state; a user cursor's is never cached (undefined). */
  get(key: CursorKey): CachedCursor | undefined {
    return key.deviceId === undefined ? undefined : this.devices.get(deviceId(key.userId, key.deviceId))?.get(key.conversationId);
  }

  /** The database now holds `cursor` at `version` for this key (a user cursor's is not kept). */
  note(key: CursorKey, cursor: Cursor, version: string | undefined): void {
    if (key.deviceId === undefined) return;
    const id = deviceId(key.userId, key.deviceId);
    const cursors = this.devices.get(id) ?? new Map<string, CachedCursor>();
    const added = !cursors.has(key.conversationId);
    cursors.set(key.conversationId, { cursor, version });
    if (!added) return;
    // Stored again, so the cache counts the device's new size (a set of the same value keeps the old one).
    this.devices.delete(id);
    this.devices.set(id, cursors);
  }

  forget(key: CursorKey): void {
    if (key.deviceId !== undefined) this.devices.get(deviceId(key.userId, key.deviceId))?.delete(key.conversationId);
  }

  /** Every cursor of a device that was forgotten, or is seen for the first time: its documents were deleted or are being copied. */
  forgetDevice(userId: string, device: string): void {
    this.devices.delete(deviceId(userId, device));
  }
}
