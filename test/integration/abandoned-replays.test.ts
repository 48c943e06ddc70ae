// A user's replays read the store one at a time, and a replay whose connection closed before its turn
// reads nothing: on FerretDB, 10 devices of a user in 1,500 conversations opened and closed at once
// kept the store busy for 25 s (each replay's targets are a read per conversation there).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uid } from '../helpers/conversations.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { ReplayTarget } from '../../src/store/store.js';

/** A memory store whose replay-target reads can be held, counted by user. */
class HeldTargetsStore extends MemoryStore {
  readonly targetReads = new Map<string, number>();
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  /** Resolves once a held read is waiting. */
  waiting: Promise<void> = new Promise(() => {});
  private reached: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
    this.waiting = new Promise((resolve) => (this.reached = resolve));
  }

  release(): void {
    this.gate = undefined;
    this.open?.();
  }

  override async replayTargets(userId: string, deviceId: string): Promise<ReplayTarget[]> {
    this.targetReads.set(userId, (this.targetReads.get(userId) ?? 0) + 1);
    if (this.gate) {
      this.reached?.();
      await this.gate;
    }
    return super.replayTargets(userId, deviceId);
  }
}

describe("replays of a user's closed connections", () => {
  const store = new HeldTargetsStore();
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ store });
  });
  after(() => t.close());

  it('wait for the one reading, and read nothing once their connection is gone', async () => {
    const user = uid('many');
    store.hold();
    const first = await TestClient.connect(`${t.wsUrl}?device=d0`, { token: await t.token(user) });
    await store.waiting; // the first replay reads its targets (held)
    const others = await Promise.all([1, 2, 3, 4].map(async (i) => TestClient.connect(`${t.wsUrl}?device=d${i}`, { token: await t.token(user) })));
    await Promise.all(others.map((client) => client.close()));
    store.release();
    await first.next((f) => f.type === 'ready');
    // Another user is not held behind them.
    const { client: bystander } = await TestClient.connectReady(t.wsUrl, await t.token(uid('bystander')));
    assert.equal(store.targetReads.get(user), 1, "only the open connection's replay read its targets");
    await Promise.all([first.close(), bystander.close()]);
  });
});
