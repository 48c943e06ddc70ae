// A store failing every confirmation: the first warning is written at once, the repeats within
// LOG_REPEAT_MS are held back and summed into one line when the window ends (log-repeats.ts). Every
// client still gets its own error frame: only the log is spared.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import { StoreUnavailableError, type ConfirmResult } from '../../src/store/store.js';
import { startTestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

class FailingConfirmStore extends MemoryStore {
  override confirmIds(): Promise<ConfirmResult> {
    return Promise.reject(new StoreUnavailableError('store is overloaded (test)'));
  }
}

const WARNING = 'confirmation failed; the messages stay pending';
const CONFIRMS = 25;

async function failConfirmations(repeatMs: number): Promise<{ lines: () => Record<string, unknown>[]; close: () => Promise<void> }> {
  const written: string[] = [];
  const log = createLogger({ level: 'info', repeatMs }, { write: (line: string) => void written.push(line) });
  const t = await startTestServer({ log, store: new FailingConfirmStore() });
  const { client: alice } = await TestClient.connectReady(t.wsUrl, await t.token('lr-alice'));
  const { client: bob } = await TestClient.connectReady(t.wsUrl, await t.token('lr-bob'));
  for (let i = 0; i < CONFIRMS; i++) {
    const id = `lr-m${i}`;
    await alice.sendMessage(id, 'lr-bob', 'hello');
    await bob.next((frame) => frame.type === 'message' && frame.messageId === id);
    bob.send({ type: 'delivered', messageIds: [id] });
    const refused = await bob.next((frame) => frame.type === 'error');
    assert.equal(refused.code, 'unavailable', 'each confirmation is refused to its client, whatever the log holds back');
  }
  return {
    lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === WARNING),
    close: async () => {
      await Promise.all([alice.close(), bob.close()]);
      await t.close();
    },
  };
}

describe('repeated warnings (LOG_REPEAT_MS)', () => {
  it('writes the first at once, then one line with how many were held back', async () => {
    const run = await failConfirmations(1500);
    try {
      const first = run.lines();
      assert.equal(first.length, 1, `one line for ${CONFIRMS} failures within the window, got ${first.length}`);
      assert.equal(first[0]!.repeated, undefined);
      const deadline = Date.now() + 5000;
      while (run.lines().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const [, summary, ...more] = run.lines();
      assert.ok(summary, 'the summary line comes when the window ends');
      assert.equal(summary.repeated, CONFIRMS - 1);
      assert.equal(summary.repeatedOverMs, 1500);
      assert.equal(summary.level, 40);
      assert.match(String((summary.err as { message?: unknown } | undefined)?.message), /overloaded \(test\)/, 'the summary carries the last one\'s fields');
      assert.equal(more.length, 0);
    } finally {
      await run.close();
    }
  });

  it('0 writes every line', async () => {
    const run = await failConfirmations(0);
    try {
      assert.equal(run.lines().length, CONFIRMS);
    } finally {
      await run.close();
    }
  });
});
