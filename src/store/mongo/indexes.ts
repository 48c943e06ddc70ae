// Named indexes, created at every start. createIndexes with the same names and keys is a no-op, so
// concurrent starts of several instances are safe; a same-named index with other keys fails the start
// (an operator must drop it: silently replacing an index under a running fleet is not our call).
// Every query of the store is served by one of these or by _id (docs/store.md, "Indexes").
import type { IndexDescription } from 'mongodb';
import type { Collections } from './documents.js';
import { errorSummary, type Logger } from '../../log.js';

export const INDEXES = {
  // History, replay (messagesIn), heads (last seq) and unread counts: one range of one conversation.
  // Unique: two processes can never both store a seq, which is what makes seq gapless across them.
  messages: [{ name: 'conversation_seq', key: { conversationId: 1, seq: 1 }, unique: true }],
  // A user's conversations (list, replayTargets, conversationIdsOf, its groups counted by their id range);
  // a conversation's members in join order.
  memberships: [
    { name: 'by_user', key: { userId: 1, conversationId: 1 } },
    { name: 'by_conversation', key: { conversationId: 1, joinedAt: 1, pos: 1 } },
  ],
  // A user's cursors, copied to a device at its first sight.
  userCursors: [{ name: 'by_user', key: { userId: 1, conversationId: 1 } }],
  // One device's cursors (replayTargets).
  deviceCursors: [{ name: 'by_device', key: { userId: 1, deviceId: 1, conversationId: 1 } }],
  // A user's devices, seen longest ago first (the bound on devices per user).
  devices: [{ name: 'by_user_seen', key: { userId: 1, lastSeen: 1 } }],
} satisfies Partial<Record<keyof Collections, IndexDescription[]>>;

/**
 * Indexes that only make one operation cheaper, built after the start, not before it: the first start
 * after the release that adds one would otherwise wait for a scan of a large collection (and fail past
 * DB_OP_TIMEOUT_MS). Until one is ready, its operation reads as it did before.
 */
export const LATER_INDEXES = {
  // An edit's or delete's target: a delete empties its target's edits through it, not through a walk
  // of every message stored since the target. Sparse: only events carry `target`, so a message costs
  // no entry (on MongoDB; FerretDB v1 takes the option and indexes every document).
  messages: [{ name: 'by_target', key: { target: 1 }, sparse: true }],
} satisfies Partial<Record<keyof Collections, IndexDescription[]>>;

/** Builds LATER_INDEXES one by one; a failure is logged (the next start tries again), never thrown. */
export async function buildLaterIndexes(collections: Collections, log: Logger, closed: () => boolean): Promise<void> {
  for (const create of creations(collections, LATER_INDEXES)) {
    if (closed()) return;
    try {
      await create.run();
    } catch (error) {
      if (!closed()) log.warn({ err: errorSummary(error), index: create.name }, 'index not confirmed built (MongoDB may still be building it); the next start checks again');
    }
  }
}

export async function ensureIndexes(collections: Collections): Promise<void> {
  for (const create of creations(collections, INDEXES)) await create.run();
}

/**
 * One createIndexes call per index: FerretDB v1 panics (and drops the connection) when one call names
 * several indexes that all exist already, i.e. at every start after the first.
 */
function creations(collections: Collections, table: typeof INDEXES | typeof LATER_INDEXES): { name: string | undefined; run: () => Promise<unknown> }[] {
  return Object.entries(table as Record<string, IndexDescription[]>).flatMap(([collection, indexes]) =>
    indexes.map((index) => ({ name: index.name, run: () => collections[collection as keyof typeof INDEXES].createIndexes([index]) })),
  );
}
