// Sends that were still waiting to be written when their sender was banned, or removed from the
// conversation: the store asks `gate` just before its insert (Store.admitSenders), after its own
// membership read. A pipelined burst into a group went on being stored and delivered after the
// owner's removal had answered 204 (64 messages, one batch, when the sender was on another instance),
// and after a ban had answered 200 (all 100 of a burst): the attacker probe.
//
// What this process heard is the bus's view, so this narrows the race to the insert's own round trip
// plus the bus's delay; it is not a fence (docs/store.md, "Removal, bans and sends in flight").
import { LRUCache } from 'lru-cache';
import type { SenderGate } from '../store/store.js';
import type { ConversationEventKind } from './events.js';

/** Removals remembered at most: each is a (conversation, user) pair, a few dozen bytes. */
const MAX_REMEMBERED = 100_000;

export class LateRefusals {
  /** When this process heard that a user left or was removed from a conversation (ms), by `conversationId\nuserId`. */
  private readonly removedAt: LRUCache<string, number>;

  constructor(
    /** How long a removal is remembered: longer than any send can wait to be written (DB_OP_TIMEOUT_MS, twice). */
    rememberMs: number,
    private readonly banned: (userId: string) => boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.removedAt = new LRUCache({ max: MAX_REMEMBERED, ttl: Math.max(1, rememberMs) });
  }

  /** A membership change, made here or heard from another instance. */
  changed(event: ConversationEventKind, conversationId: string, users: readonly string[]): void {
    if (event === 'left' || event === 'removed') for (const userId of users) this.removedAt.set(key(conversationId, userId), this.now());
    else if (event === 'joined' || event === 'created') for (const userId of users) this.removedAt.delete(key(conversationId, userId));
  }

  /** A removal first: it refuses a server API send too, which a ban does not. */
  readonly gate: SenderGate = (userId, conversationId, readAt) => {
    const at = this.removedAt.get(key(conversationId, userId));
    if (at !== undefined && at >= readAt) return 'removed';
    return this.banned(userId) ? 'banned' : undefined;
  };
}

function key(conversationId: string, userId: string): string {
  return `${conversationId}\n${userId}`;
}
