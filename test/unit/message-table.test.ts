// The memory store's message rows (src/store/memory/message-table.ts) against plain objects as the
// model: 40,000 messages, so that the rows span three chunks of 16,384, with events, edits and deletes
// among them; every row reads back as the model's StoredMessage, every id finds its row, and an id
// never added finds none. Rows per conversation (RowList) are checked as they double.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageTable, RowList } from '../../src/store/memory/message-table.js';
import type { StoredMessage } from '../../src/store/store.js';
import { prng } from '../helpers/prng.js';

const BODIES = ['', 'hi', 'é中😀', 'x'.repeat(2000)];

describe('message table', () => {
  it('reads back every message as stored, across chunks, after edits and deletes', () => {
    const random = prng(5);
    const table = new MessageTable();
    const model: StoredMessage[] = [];
    const seqs = new Map<string, number>();
    for (let row = 0; row < 40_000; row++) {
      const conversationId = `c${Math.floor(random() * 300)}`;
      const seq = (seqs.get(conversationId) ?? 0) + 1;
      seqs.set(conversationId, seq);
      const from = `u${Math.floor(random() * 50)}`;
      const fromDevice = random() < 0.8 ? `d${Math.floor(random() * 3)}` : undefined;
      const to = random() < 0.5 ? `u${Math.floor(random() * 50)}` : undefined;
      const event = row > 0 && random() < 0.05 ? { kind: random() < 0.5 ? ('edited' as const) : ('deleted' as const), target: model[Math.floor(random() * row)]!.messageId } : undefined;
      const body = `${BODIES[row % BODIES.length]}${row}`;
      const message: StoredMessage = {
        messageId: `m-${row}`,
        conversationId,
        seq,
        from,
        ...(fromDevice !== undefined ? { fromDevice } : {}),
        ...(to !== undefined ? { to } : {}),
        body,
        ts: 1.8e12 + row + 0.5,
        ...(event !== undefined ? { event } : {}),
      };
      assert.equal(table.add(message.messageId, conversationId, seq, from, fromDevice, to, message.ts, event, body), row);
      model.push(message);
      // Now and then an edit or a delete applied to an earlier message, which may be in an older chunk.
      if (row > 0 && random() < 0.03) {
        const target = Math.floor(random() * row);
        if (random() < 0.6) {
          // The store never edits a tombstone (applyEvent answers it as it is).
          if (!model[target]!.deleted) {
            table.edit(target, `edited ${row}`, 2e12 + row);
            model[target] = { ...model[target]!, body: `edited ${row}`, editedAt: 2e12 + row };
          }
        } else {
          table.delete(target);
          const { editedAt: _, ...kept } = model[target]!;
          model[target] = { ...kept, body: '', deleted: true };
        }
      }
    }
    assert.equal(table.size, model.length);
    for (const [row, message] of model.entries()) {
      assert.equal(table.find(message.messageId), row);
      assert.deepEqual(table.stored(row), message, `row ${row}`);
      assert.equal(table.isEvent(row), message.event !== undefined);
      assert.equal(table.deleted(row), message.deleted === true);
    }
    assert.equal(table.find('m-40000'), -1);
  });

  it('answers the body it is given for a new row, and leaves out absent fields', () => {
    const table = new MessageTable();
    const row = table.add('a', 'c', 1, 'u', undefined, undefined, 5, undefined, 'stored');
    assert.deepEqual(table.stored(row, 'as it came'), { messageId: 'a', conversationId: 'c', seq: 1, from: 'u', body: 'as it came', ts: 5 });
    assert.deepEqual(Object.keys(table.stored(row)), ['messageId', 'conversationId', 'seq', 'from', 'body', 'ts']);
  });

  it('keeps a conversation\'s rows in order as its list doubles', () => {
    const rows = new RowList();
    for (let i = 0; i < 1000; i++) rows.push(i * 7);
    assert.equal(rows.length, 1000);
    for (let i = 0; i < 1000; i++) assert.equal(rows.at(i), i * 7);
  });
});
