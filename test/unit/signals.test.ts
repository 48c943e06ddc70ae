// Receipt coalescing (src/chat/signals.ts): one receipt per (conversation, user) per turn with the
// newest watermarks, in the order the pairs first came, and the confirming connection kept quiet only
// when it alone reported. The router is a recorder: what is under test is what Signals asks it to send.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatConnection } from '../../src/chat/connection.js';
import type { DeliveryRouter } from '../../src/chat/router.js';
import { Signals } from '../../src/chat/signals.js';
import type { Conversation } from '../../src/store/store.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

interface Sent {
  to: string;
  conversationId: string;
  userId: string;
  deliveredSeq: number | undefined;
  readSeq: number | undefined;
  quiet: ChatConnection | undefined;
}

function recordingRouter(): { router: DeliveryRouter; sent: Sent[] } {
  const sent: Sent[] = [];
  const record = (to: string, event: { conversationId: string; userId: string; deliveredSeq?: number; readSeq?: number }, quiet?: ChatConnection) =>
    sent.push({ to, conversationId: event.conversationId, userId: event.userId, deliveredSeq: event.deliveredSeq, readSeq: event.readSeq, quiet });
  const router = {
    toMembers: (_id: string, members: readonly string[] | undefined, event: never, _except?: string, quiet?: ChatConnection) => record(members ? `members:${members.join(',')}` : 'members', event, quiet),
    toUser: (userId: string, event: never, quiet?: ChatConnection) => record(`user:${userId}`, event, quiet),
  } as unknown as DeliveryRouter;
  return { router, sent };
}

const direct = (conversationId: string, members: string[]): Conversation => ({ conversationId, kind: 'direct', members }) as unknown as Conversation;
const group = (conversationId: string, members: string[]): Conversation => ({ conversationId, kind: 'group', members }) as unknown as Conversation;
const phone = {} as ChatConnection;
const laptop = {} as ChatConnection;

describe('Signals.receipt', () => {
  it('coalesces a turn per (conversation, user): newest watermarks, first-come order, quiet only for a lone source', async () => {
    const { router, sent } = recordingRouter();
    const signals = new Signals(router, 2, 1000, 100);
    const ab = direct('d1', ['alice', 'bob']);
    const big = group('g1', ['alice', 'bob', 'carol']);
    signals.receipt(ab, 'bob', 3, undefined, phone);
    signals.receipt(ab, 'alice', undefined, 7, laptop);
    signals.receipt(ab, 'bob', 2, undefined, phone); // older: the newest stays
    signals.receipt(ab, 'bob', undefined, 1, phone);
    signals.receipt(big, 'carol', 5, undefined, phone);
    signals.receipt(ab, 'alice', 9, undefined, phone); // a second source: nobody is kept quiet
    assert.equal(sent.length, 0, 'nothing before the turn ends');
    await nextTurn();
    assert.deepEqual(sent, [
      { to: 'members:alice,bob', conversationId: 'd1', userId: 'bob', deliveredSeq: 3, readSeq: 1, quiet: phone },
      { to: 'members:alice,bob', conversationId: 'd1', userId: 'alice', deliveredSeq: 9, readSeq: 7, quiet: undefined },
      // A group above RECEIPTS_MAX_MEMBERS (2 here) tells only the member's own devices.
      { to: 'user:carol', conversationId: 'g1', userId: 'carol', deliveredSeq: 5, readSeq: undefined, quiet: phone },
    ]);
  });

  it('starts afresh each turn', async () => {
    const { router, sent } = recordingRouter();
    const signals = new Signals(router, 10, 1000, 100);
    const ab = direct('d1', ['alice', 'bob']);
    signals.receipt(ab, 'bob', 4, undefined, phone);
    await nextTurn();
    signals.receipt(ab, 'bob', 2, undefined, laptop);
    await nextTurn();
    assert.deepEqual(
      sent.map(({ deliveredSeq, quiet }) => ({ deliveredSeq, quiet })),
      [
        { deliveredSeq: 4, quiet: phone },
        { deliveredSeq: 2, quiet: laptop },
      ],
    );
  });
});
