// Named indexes, created at every start. createIndexes with the same names and keys is a no-op, so
// concurrent starts of several instances are safe; a same-named index with other keys fails the start
// (an operator must drop it: silently replacing an index under a running fleet is not our call).
import type { IndexDescription } from 'mongodb';
import type { Collections } from './documents.js';

export const DELIVERY_INDEXES: readonly IndexDescription[] = [
  // Replay: a recipient's pending entries in sort-key order (ties by _id), one bounded range per page.
  { name: 'pending_by_recipient', key: { to: 1, status: 1, seq: 1, _id: 1 } },
];

export const MESSAGE_INDEXES: readonly IndexDescription[] = [
  // History: one conversation (from, to) in sort-key order; both directions are two ranges of it.
  { name: 'conversation_by_seq', key: { from: 1, to: 1, seq: 1 } },
];

export async function ensureIndexes(collections: Collections): Promise<void> {
  await collections.deliveries.createIndexes([...DELIVERY_INDEXES]);
  await collections.messages.createIndexes([...MESSAGE_INDEXES]);
}
