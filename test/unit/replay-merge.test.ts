// The replay's merge of a device's conversations (src/chat/replay-merge.ts): accept-time order across
// conversations and seq order within each, page by page; the work per message does not grow with the
// number of conversations; and a replay over thousands of conversations lets the event loop run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayMerge } from '../../src/chat/replay-merge.js';
import { KeyedLock } from '../../src/lock.js';
import { EMPTY_CURSOR } from '../../src/store/cursor.js';
import type { Cursor, ReplayTarget, Store, StoredMessage } from '../../src/store/store.js';

/** A store that answers the merge's one read, `messagesAfter`, from fixed conversations, at once. */
function storeOf(conversations: ReadonlyMap<string, readonly StoredMessage[]>): { store: Store; reads: () => number } {
  let reads = 0;
  const store = {
    messagesAfter: async (conversationId: string, afterSeq: number, limit: number) => {
      reads++;
      return (conversations.get(conversationId) ?? []).filter((m) => m.seq > afterSeq).slice(0, limit);
    },
  } as unknown as Store;
  return { store, reads: () => reads };
}

const message = (conversationId: string, seq: number, ts: number, from = 'alice'): StoredMessage => ({ messageId: `${conversationId}#${seq}`, conversationId, seq, from, body: 'b', ts });
const target = (conversationId: string, cursor: Cursor = EMPTY_CURSOR): ReplayTarget => ({ conversationId, cursor, lastSeq: 0 });

async function drain(merge: ReplayMerge, onEach: () => void = () => {}): Promise<string[]> {
  const ids: string[] = [];
  for (let m = await merge.next(); m; m = await merge.next()) {
    ids.push(m.messageId);
    onEach();
  }
  return ids;
}

describe('replay merge', () => {
  it('orders by accept time across conversations, by seq within one, over several pages', async () => {
    const conversations = new Map([
      ['a', [message('a', 1, 10), message('a', 2, 40), message('a', 3, 50), message('a', 4, 70), message('a', 5, 90)]],
      ['b', [message('b', 1, 20), message('b', 2, 40), message('b', 3, 60, 'me'), message('b', 4, 80)]],
      // Covered by the cursor (seq ≤ 1, and 3 above it): never replayed.
      ['c', [message('c', 1, 5), message('c', 2, 30), message('c', 3, 35), message('c', 4, 100)]],
    ]);
    const { store, reads } = storeOf(conversations);
    const merge = new ReplayMerge(store, [target('a'), target('b'), target('c', { upTo: 1, runs: [3, 3] })], 2, (m) => m.from === 'me');
    // Equal accept times (a#2 and b#2 at 40): the conversation listed first goes first.
    assert.deepEqual(await drain(merge), ['a#1', 'b#1', 'c#2', 'a#2', 'b#2', 'a#3', 'a#4', 'b#4', 'a#5', 'c#4']);
    // Two messages a page: a 3 pages, b 2 (+1 empty, since its last page was full), c 2.
    assert.equal(reads(), 8);
  });

  it('costs each message the same however many conversations there are', async () => {
    // The merge used to scan every conversation for every message: 4,000 conversations with one
    // message each looked at 8 million heads. Counted by the skip check, which sees each head it ranks.
    const n = 4000;
    const conversations = new Map(Array.from({ length: n }, (_, i) => [`c${i}`, [message(`c${i}`, 1, (i * 7919) % n)]] as const));
    let looked = 0;
    const merge = new ReplayMerge(storeOf(conversations).store, [...conversations.keys()].map((id) => target(id)), 20, () => (looked++, false));
    const ids = await drain(merge);
    assert.equal(ids.length, n);
    assert.equal(new Set(ids).size, n);
    assert.ok(looked <= n, `${looked} heads looked at for ${n} messages`);
  });

  it('lets the event loop run while it reads thousands of conversations from a store that answers at once', async () => {
    const n = 2000;
    const conversations = new Map(Array.from({ length: n }, (_, i) => [`c${i}`, [message(`c${i}`, 1, i)]] as const));
    let turned = false;
    setImmediate(() => (turned = true));
    let firstAfterTurn = -1;
    let count = 0;
    const merge = new ReplayMerge(storeOf(conversations).store, [...conversations.keys()].map((id) => target(id)), 20, () => false);
    await drain(merge, () => {
      count++;
      if (turned && firstAfterTurn < 0) firstAfterTurn = count;
    });
    assert.equal(count, n);
    // The first pages are read 500 conversations a turn, so the loop turned before the first message.
    assert.equal(firstAfterTurn, 1);
  });

  it("stops reading once its connection is gone, and one user's replays read one round at a time", async () => {
    const n = 1200; // three rounds of first pages (500 a round)
    const conversations = new Map<string, readonly StoredMessage[]>(Array.from({ length: n }, (_, i) => [`c${i}`, [message(`c${i}`, 1, i)]] as const));
    let inFlight = 0;
    let most = 0;
    let reads = 0;
    const slowStore = {
      messagesAfter: async (conversationId: string) => {
        reads++;
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return conversations.get(conversationId) ?? [];
      },
    } as unknown as Store;
    const targets = [...conversations.keys()].map((id) => target(id));

    // Given up after its first round: no more reads, and no message.
    let open = true;
    const abandoned = new ReplayMerge(slowStore, targets, 20, () => false, () => !open, async (_, round) => {
      await round();
      open = false;
    });
    assert.equal(await abandoned.next(), undefined);
    assert.equal(reads, 500);

    // Two replays of one user (two devices) through one gate: 16 reads in flight at most, not 32.
    const lock = new KeyedLock();
    const gate = (_: number, round: () => Promise<unknown>) => lock.run('bob', round);
    reads = 0;
    const [laptop, phone] = [0, 1].map(() => new ReplayMerge(slowStore, targets, 20, () => false, () => false, gate));
    const [a, b] = await Promise.all([drain(laptop!), drain(phone!)]);
    assert.equal(a.length, n);
    assert.equal(b.length, n);
    assert.equal(reads, 2 * n);
    assert.ok(most <= 16, `${most} reads in flight`);
  });
});
