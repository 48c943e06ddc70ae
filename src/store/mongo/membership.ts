// Conversations and their members. Creation and joining are inserts (idempotent by `_id`: a second
// writer's duplicate key means "already there"), so two processes creating the same direct
// conversation, or adding the same member, end with one document each and no error.
import type { Conversation, ConversationKind, GroupCreation, Membership, MembershipChange, NewGroup } from '../store.js';
import { membershipId, userCursorId, type Collections, type ConversationDoc, type MembershipDoc } from './documents.js';
import { GROUP_ID_PREFIX } from '../conversation-ids.js';
import { findByIds } from './find-by-ids.js';
import type { HeadCache } from './heads.js';
import { insertIfAbsent } from './insert.js';

export function membershipDoc(conversationId: string, userId: string, joinedAt: number, pos: number, joinSeq: number): MembershipDoc {
  return { _id: membershipId(conversationId, userId), conversationId, userId, joinedAt, pos, joinSeq, readSeq: joinSeq };
}

export function toMembership(doc: MembershipDoc): Membership {
  return { conversationId: doc.conversationId, userId: doc.userId, joinedAt: Number(doc.joinedAt), joinSeq: Number(doc.joinSeq) };
}

/** Members in join order (longest-standing first). */
export async function membersOf(collections: Collections, conversationId: string): Promise<string[]> {
  const docs = await collections.memberships
    .find({ conversationId }, { projection: { userId: 1 }, sort: { joinedAt: 1, pos: 1, _id: 1 } })
    .toArray();
  return docs.map((doc) => doc.userId);
}

export async function conversationView(collections: Collections, conversationId: string, doc?: ConversationDoc | null): Promise<Conversation | undefined> {
  const [conversation, members] = await Promise.all([
    doc !== undefined ? doc : collections.conversations.findOne({ _id: conversationId }),
    membersOf(collections, conversationId),
  ]);
  return conversation ? toConversation(conversation, members) : undefined;
}

/** Memberships per reply when a page's members are read at once (a reply also stops at 16 MB). */
const MEMBERS_BATCH = 10_000;

/**
 * Several conversations with their members, keyed by id (missing ones absent). On MongoDB that is two
 * queries whatever the count (conversations by `_id`, memberships by `conversationId`, put in join
 * order here); on FerretDB v1, which scans a collection for `$in`, the reads of conversationView each.
 */
export async function conversationViews(collections: Collections, conversationIds: readonly string[]): Promise<Map<string, Conversation>> {
  const views = new Map<string, Conversation>();
  if (conversationIds.length === 0) return views;
  if (collections.idLookup === 'each') {
    await Promise.all(conversationIds.map(async (id) => {
      const view = await conversationView(collections, id);
      if (view) views.set(id, view);
    }));
    return views;
  }
  const [conversations, memberships] = await Promise.all([
    findByIds(collections.conversations, collections.idLookup, conversationIds, {}),
    // One reply, not a first batch of 101 and a getMore: a page of groups holds thousands of members.
    collections.memberships.find({ conversationId: { $in: [...conversationIds] } }, { projection: { conversationId: 1, userId: 1, joinedAt: 1, pos: 1 }, batchSize: MEMBERS_BATCH }).toArray(),
  ]);
  // membersOf's order, sorted here: the server would sort every page's members in one buffer.
  memberships.sort((a, b) => Number(a.joinedAt) - Number(b.joinedAt) || Number(a.pos) - Number(b.pos) || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
  const members = new Map<string, string[]>();
  for (const doc of memberships) {
    const list = members.get(doc.conversationId);
    if (list) list.push(doc.userId);
    else members.set(doc.conversationId, [doc.userId]);
  }
  for (const doc of conversations) views.set(doc._id, toConversation(doc, members.get(doc._id) ?? []));
  return views;
}

function toConversation(doc: ConversationDoc, members: string[]): Conversation {
  return { conversationId: doc._id, kind: doc.kind, title: doc.title ?? null, ownerId: doc.ownerId ?? null, createdAt: Number(doc.createdAt), members };
}

/**
 * Direct conversations on their first message: every conversation document of the batch in one insert,
 * then every membership (joinSeq 0) in one more, so a batch of first messages costs two round trips
 * whatever it holds. The conversation goes in before its members: a crash between the two leaves a
 * conversation without members, never members of no conversation. Returns the ids it created or
 * completed (an existing conversation without members: such a crash). One found with members is left
 * alone: another instance created it meanwhile, or its sender was removed, so the caller reads the
 * sender's membership again (persist-batch.ts).
 */
export async function ensureDirectConversations(
  collections: Collections,
  requests: readonly { conversationId: string; members: readonly string[]; at: number }[],
): Promise<Set<string>> {
  const distinct = [...new Map(requests.map((request) => [request.conversationId, request])).values()];
  if (distinct.length === 0) return new Set();
  const inserted = await insertIfAbsent(
    collections.conversations,
    distinct.map(({ conversationId, at }): ConversationDoc => ({ _id: conversationId, kind: 'direct', title: null, ownerId: null, createdAt: at })),
  );
  // Rare: the document was there already. Only one without members is completed here.
  const existing = distinct.filter((_, i) => !inserted.has(i));
  const counts = await Promise.all(existing.map(({ conversationId }) => collections.memberships.countDocuments({ conversationId })));
  const completing = [...distinct.filter((_, i) => inserted.has(i)), ...existing.filter((_, i) => counts[i] === 0)];
  await insertIfAbsent(
    collections.memberships,
    completing.flatMap(({ conversationId, members, at }) => [...new Set(members)].map((userId, pos) => membershipDoc(conversationId, userId, at, pos, 0))),
  );
  return new Set(completing.map(({ conversationId }) => conversationId));
}

/** `created` for exactly one call per group across instances: the one whose insert made it (unique _id). */
export async function createGroup(collections: Collections, group: NewGroup): Promise<GroupCreation> {
  const doc: ConversationDoc = { _id: group.conversationId, kind: 'group' satisfies ConversationKind, title: group.title, ownerId: group.ownerId, createdAt: group.createdAt };
  if (group.requestDigest !== undefined) doc.requestDigest = group.requestDigest;
  const created = (await insertIfAbsent(collections.conversations, [doc])).size > 0;
  // The memberships carry the conversation's own createdAt (a completing retry has a later one).
  let createdAt = group.createdAt;
  let requestDigest = group.requestDigest;
  if (!created) {
    const stored = await collections.conversations.findOne({ _id: group.conversationId });
    const existing = await conversationView(collections, group.conversationId, stored);
    requestDigest = stored?.requestDigest;
    // Idempotent: an existing group is returned unchanged, unless it is this same request stopped
    // between its two inserts (same owner, no members yet, the same digest): then it is completed.
    if (!existing || existing.members.length > 0 || existing.ownerId !== group.ownerId || requestDigest !== group.requestDigest) return { conversation: existing!, created: false, requestDigest };
    createdAt = existing.createdAt;
  }
  const members = [...new Set([group.ownerId, ...group.members])];
  await insertIfAbsent(collections.memberships, members.map((userId, pos) => membershipDoc(group.conversationId, userId, createdAt, pos, 0)));
  // A completion is not the creation: it cannot be told from a concurrent call still between its
  // inserts, and that call answers 201.
  return { conversation: (await conversationView(collections, group.conversationId))!, created, requestDigest };
}

export async function addMembers(collections: Collections, heads: HeadCache, conversationId: string, userIds: readonly string[], at: number): Promise<MembershipChange | undefined> {
  const conversation = await collections.conversations.findOne({ _id: conversationId });
  if (!conversation) return undefined;
  // The join point: the last seq now. A message stored concurrently may land just after it and be
  // delivered to the new member, who is a member by then.
  const joinSeq = await heads.read(conversationId);
  const wanted = [...new Set(userIds)];
  const docs = wanted.map((userId, pos) => membershipDoc(conversationId, userId, at, pos, joinSeq));
  const inserted = await insertIfAbsent(collections.memberships, docs);
  const users = wanted.filter((_, i) => inserted.has(i));
  return { conversation: (await conversationView(collections, conversationId, conversation))!, users };
}

/**
 * Groups per user, each counted up to `atMost`. The range of group ids under the `by_user` index
 * (userId, conversationId): one aggregation for all on MongoDB; on FerretDB v1, which scans the
 * collection for `$in` (find-by-ids.ts), a count per user, stopped at `atMost`.
 */
export async function groupCounts(collections: Collections, userIds: readonly string[], atMost: number): Promise<number[]> {
  if (userIds.length === 0) return [];
  const groupIds = { $gte: GROUP_ID_PREFIX, $lt: afterPrefix(GROUP_ID_PREFIX) };
  if (collections.idLookup === 'each') {
    return Promise.all(userIds.map((userId) => collections.memberships.countDocuments({ userId, conversationId: groupIds }, { limit: atMost })));
  }
  const counted = await collections.memberships
    .aggregate<{ _id: string; groups: number }>([{ $match: { userId: { $in: [...new Set(userIds)] }, conversationId: groupIds } }, { $group: { _id: '$userId', groups: { $sum: 1 } } }])
    .toArray();
  const byUser = new Map(counted.map((row) => [row._id, Number(row.groups)]));
  return userIds.map((userId) => byUser.get(userId) ?? 0);
}

/** The first string after every string that starts with `prefix` (its last character, one higher). */
function afterPrefix(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export async function removeMember(collections: Collections, conversationId: string, userId: string): Promise<MembershipChange | undefined> {
  const conversation = await collections.conversations.findOne({ _id: conversationId });
  if (!conversation) return undefined;
  const removed = await collections.memberships.deleteMany({ _id: membershipId(conversationId, userId), conversationId });
  if (removed.deletedCount === 0) return { conversation: (await conversationView(collections, conversationId, conversation))!, users: [] };
  // Its user-level delivery cursor goes with the membership: a later rejoin starts at its join point.
  await collections.userCursors.deleteMany({ _id: userCursorId(userId, conversationId), userId });
  if (conversation.ownerId === userId) {
    const [next] = await membersOf(collections, conversationId);
    const ownerId = next ?? null;
    await collections.conversations.updateMany({ _id: conversationId }, { $set: { ownerId } });
    conversation.ownerId = ownerId;
  }
  return { conversation: (await conversationView(collections, conversationId, conversation))!, users: [userId] };
}

export async function setTitle(collections: Collections, conversationId: string, title: string): Promise<Conversation | undefined> {
  const updated = await collections.conversations.updateMany({ _id: conversationId }, { $set: { title } });
  if (updated.matchedCount === 0) return undefined;
  return conversationView(collections, conversationId);
}
