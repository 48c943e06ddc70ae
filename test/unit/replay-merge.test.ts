// The replay's merge of a device's conversations (src/chat/replay-merge.ts): accept-time order across
// conversations and seq order within each, page by page; the work per message does not grow with the
// number of conversations; and a replay over thousands of conversations lets the event loop run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayMerge } from '../../src/chat/replay-merge.js';
import { KeyedLock } from '../../src/lock.js';
import { EMPTY_CURSOR } from '../../src/store/cursor.js';
import type { Cursor, ReplayTarget, SeqRange, Store, StoredMessage } from '../../src/store/store.js';

/** The messages of one range, as the store's messagesIn answers for each. */
const inRange = (conversations: ReadonlyMap<string, readonly StoredMessage[]>, { conversationId, afterSeq, toSeq }: SeqRange) =>
  (conversations.get(conversationId) ?? []).filter((m) => m.seq > afterSeq && m.seq <= toSeq);

/** A store that answers the merge's one read, `messagesIn`, from fixed conversations, at once. `reads`: ranges read; `calls`: store calls. */
function storeOf(conversations: ReadonlyMap<string, readonly StoredMessage[]>): { store: Store; reads: () => number; calls: () => number } {
  let reads = 0;
  let calls = 0;
  const store = {
    messagesIn: async (ranges: readonly SeqRange[]) => {
      calls++;
      reads += ranges.length;
      return ranges.map((range) => inRange(conversations, range));
    },
  } as unknown as Store;
  return { store, reads: () => reads, calls: () => calls };
}

const message = (conversationId: string, seq: number, ts: number, from = 'alice'): StoredMessage => ({ messageId: `${conversationId}#${seq}`, conversationId, seq, from, body: 'b', ts });
/** Conversations' targets as the store lists them: each with its newest seq. */
const targetsOf = (conversations: ReadonlyMap<string, readonly StoredMessage[]>, cursors: Record<string, Cursor> = {}): ReplayTarget[] =>
  [...conversations].map(([conversationId, messages]) => ({ conversationId, cursor: cursors[conversationId] ?? EMPTY_CURSOR, lastSeq: Math.max(0, ...messages.map((m) => m.seq)) }));

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
    const merge = new ReplayMerge(store, targetsOf(conversations, { c: { upTo: 1, runs: [3, 3] } }), 2, (m) => m.from === 'me');
    // Equal accept times (a#2 and b#2 at 40): the conversation listed first goes first.
    assert.deepEqual(await drain(merge), ['a#1', 'b#1', 'c#2', 'a#2', 'b#2', 'a#3', 'a#4', 'b#4', 'a#5', 'c#4']);
    // Two seqs a range, up to each newest seq: a 3 ranges, b 2, c 2 (from its cursor at 1: 2–3, 4–5).
    assert.equal(reads(), 7);
  });

  it('reads past seqs that were never used, up to the newest its target saw, and all conversations\' pages in one call a round', async () => {
    // Seqs 2–5 of `a` were taken and never stored (a write that failed after its seq was drawn): a
    // range with nothing in it is not the end of the conversation.
    const conversations = new Map([
      ['a', [message('a', 1, 10), message('a', 6, 60), message('a', 7, 70)]],
      ['b', [message('b', 1, 20), message('b', 2, 30)]],
    ]);
    const { store, reads, calls } = storeOf(conversations);
    assert.deepEqual(await drain(new ReplayMerge(store, targetsOf(conversations), 2, () => false)), ['a#1', 'b#1', 'b#2', 'a#6', 'a#7']);
    // a: 1–2, 3–4, 5–6, 7–8; b: 1–2. The first round reads both at once.
    assert.equal(reads(), 5);
    assert.equal(calls(), 4);
  });

  it('costs each message the same however many conversations there are', async () => {
    // The merge used to scan every conversation for every message: 4,000 conversations with one
    // message each looked at 8 million heads. Counted by the skip check, which sees each head it ranks.
    const n = 4000;
    const conversations = new Map(Array.from({ length: n }, (_, i) => [`c${i}`, [message(`c${i}`, 1, (i * 7919) % n)]] as const));
    let looked = 0;
    const merge = new ReplayMerge(storeOf(conversations).store, targetsOf(conversations), 20, () => (looked++, false));
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
    const merge = new ReplayMerge(storeOf(conversations).store, targetsOf(conversations), 20, () => false);
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
      messagesIn: async (ranges: readonly SeqRange[]) => {
        reads += ranges.length;
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return ranges.map((range) => inRange(conversations, range));
      },
    } as unknown as Store;
    const targets = targetsOf(conversations);

    // Given up after its first round: no more reads, and no message.
    let open = true;
    const abandoned = new ReplayMerge(slowStore, targets, 20, () => false, () => !open, async (_, round) => {
      await round();
      open = false;
    });
    assert.equal(await abandoned.next(), undefined);
    assert.equal(reads, 500);

    // Two replays of one user (two devices) through one gate: one round in flight at a time, not two.
    const lock = new KeyedLock();
    const gate = (_: number, round: () => Promise<unknown>) => lock.run('bob', round);
    reads = 0;
    const [laptop, phone] = [0, 1].map(() => new ReplayMerge(slowStore, targets, 20, () => false, () => false, gate));
    const [a, b] = await Promise.all([drain(laptop!), drain(phone!)]);
    assert.equal(a.length, n);
    assert.equal(b.length, n);
    assert.equal(reads, 2 * n);
    assert.equal(most, 1, `${most} rounds in flight`);
  });
});
