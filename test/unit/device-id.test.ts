// The device id (protocol v1.1 `?device=`): given, else stored in the browser's storage once, else fresh.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEVICE_STORAGE_KEY, resolveDeviceId, withDevice } from '../../src/client/device.js';
import { DEVICE_ID_PATTERN } from '../../src/protocol/ids.js';

function memoryStorage() {
  const map = new Map<string, string>();
  return { map, getItem: (key: string) => map.get(key) ?? null, setItem: (key: string, value: string) => void map.set(key, value) };
}

describe('device id', () => {
  it('takes the one given, and refuses an invalid one', () => {
    assert.equal(resolveDeviceId('laptop-1', memoryStorage()), 'laptop-1');
    assert.throws(() => resolveDeviceId('not valid!', undefined), TypeError);
  });

  it('generates one once and keeps it in storage; without storage each call is a new device', () => {
    const storage = memoryStorage();
    const first = resolveDeviceId(undefined, storage);
    assert.match(first, DEVICE_ID_PATTERN);
    assert.equal(storage.map.get(DEVICE_STORAGE_KEY), first);
    assert.equal(resolveDeviceId(undefined, storage), first, 'the same on the next load');
    assert.notEqual(resolveDeviceId(undefined, undefined), resolveDeviceId(undefined, undefined));
  });

  it('goes on the WebSocket URL as ?device=, beside what the URL had', () => {
    assert.equal(withDevice('ws://h:1/ws', 'd1'), 'ws://h:1/ws?device=d1');
    assert.equal(withDevice('wss://h/ws?x=1', 'd1'), 'wss://h/ws?x=1&device=d1');
  });
});
