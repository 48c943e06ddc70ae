// KeyedLock.runAll: the Mongo store's cursor steps hold one lock per user they touch, so that steps of
// different users run side by side while a user's own steps never interleave.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedLock } from '../../src/lock.js';

/** A step that runs until released, recording when it started. */
function held(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  const step = async () => {
    log.push(`${name} start`);
    await done;
    log.push(`${name} end`);
  };
  return { step, release };
}

const turns = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('KeyedLock.runAll', () => {
  it('runs steps with no key in common side by side', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = held(log, 'a');
    const first = lock.runAll(['alice', 'bob'], a.step);
    const second = lock.runAll(['carol'], async () => void log.push('carol ran'));
    await second;
    await turns();
    assert.deepEqual(log.sort(), ['a start', 'carol ran'], 'carol ran while alice and bob were held');
    a.release();
    await first;
  });

  it('runs steps sharing a key one after another, in the order they came', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = held(log, 'a');
    const first = lock.runAll(['alice', 'bob'], a.step);
    const second = lock.runAll(['bob', 'carol'], async () => void log.push('b ran'));
    await turns();
    assert.deepEqual(log, ['a start'], 'bob is held, so the second waits');
    a.release();
    await Promise.all([first, second]);
    assert.deepEqual(log, ['a start', 'a end', 'b ran']);
  });

  it('never deadlocks on keys named in opposite orders, and a failed step lets the next one in', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const a = held(log, 'a');
    const first = lock.runAll(['x', 'y'], a.step);
    const failing = lock.runAll(['y', 'x'], async () => {
      log.push('failing ran');
      throw new Error('boom');
    });
    const last = lock.runAll(['y', 'x', 'y'], async () => void log.push('last ran'));
    await turns();
    a.release();
    await first;
    await assert.rejects(failing, /boom/);
    await last;
    assert.deepEqual(log, ['a start', 'a end', 'failing ran', 'last ran']);
  });
});
