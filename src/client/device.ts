// This device's id (protocol v1.1: `?device=` on the WebSocket URL). The server delivers to each device
// and replays to it what it has not confirmed, so the id must outlive the page or the process: a new id
// is a new device, replayed only what no other device of the user has confirmed. Browsers keep it in
// localStorage (one device per browser profile), or in sessionStorage with `devicePerTab` (each tab a
// device of its own that survives the tab's reloads); elsewhere the application passes the one it stored.
import { DEVICE_ID_PATTERN } from '../protocol/ids.js';
import { newMessageId } from './ids.js';
import { withQuery } from './query.js';

/** The localStorage key that holds the browser's device id. */
export const DEVICE_STORAGE_KEY = 'uws-chat.device';

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The id given, else the one stored in this browser (stored there when new), else a fresh one. */
export function resolveDeviceId(given: string | undefined, storage: StorageLike | undefined = browserStorage('localStorage')): string {
  if (given !== undefined) {
    if (!DEVICE_ID_PATTERN.test(given)) throw new TypeError('"device" must be 1-64 characters [A-Za-z0-9_-]');
    return given;
  }
  try {
    const stored = storage?.getItem(DEVICE_STORAGE_KEY);
    if (stored && DEVICE_ID_PATTERN.test(stored)) return stored;
  } catch {
    // storage refused (private mode, sandboxed frame): a device per page load
  }
  const fresh = `d${newMessageId().toLowerCase()}`;
  try {
    storage?.setItem(DEVICE_STORAGE_KEY, fresh);
  } catch {
    // as above
  }
  return fresh;
}

/** The WebSocket URL with `device` set in its query. */
export function withDevice(url: string, deviceId: string): string {
  return withQuery(url, { device: deviceId });
}

export function browserStorage(kind: 'localStorage' | 'sessionStorage'): StorageLike | undefined {
  try {
    return (globalThis as { localStorage?: StorageLike; sessionStorage?: StorageLike })[kind];
  } catch {
    return undefined;
  }
}
