// One confirmation batch (confirmIds and confirmUpTo of many users and devices). Per batch: the
// confirmed messages' facts (cached: messages never change), the memberships, the cursors involved,
// and for confirmUpTo the other members' messages in the newly covered range; then one unordered
// insert of receipts and one bulk of cursor upserts.
//
// The delivery mark is the receipt insert, keyed (user, message): a unique-key insert is atomic on
// MongoDB and FerretDB alike, so exactly one confirmation makes it, on any process, whatever the
// cursors say. The user cursor only proposes candidates (what it did not cover yet); a candidate whose
// receipt exists was marked by someone else. Receipts are written before the cursors: a batch that
// stops in between leaves the cursors behind, and the next confirmation proposes those messages again
// (their receipts exist: no second mark). The other order could leave a cursor past a message that
// was never marked.
import { findByIds } from './find-by-ids.js';
import { LRUCache } from 'lru-cache';
import { advance, advanceToListing } from '../cursor.js';
import type { ConfirmResult, Cursor, DeliveryMark } from '../store.js';
import type { KeyedLock } from '../../lock.js';
import { CursorSet, cursorKeyId, type CursorKey } from './cursors.js';
import type { DeviceCursorCache } from './device-cursor-cache.js';
import type { DeviceSightings } from './device-sightings.js';
import { DUPLICATE_KEY, membershipId, receiptId, type Collections, type ReceiptDoc } from './documents.js';
import type { HeadCache } from './heads.js';
import { insertMany } from './insert.js';
import { StoreUnavailableError } from '../store.js';

export type ConfirmRequest =
  | { readonly kind: 'ids'; readonly userId: string; readonly deviceId: string; readonly messageIds: readonly string[] }
  | { readonly kind: 'upTo'; readonly userId: string; readonly deviceId: string; readonly conversationId: string; readonly seq: number };

/** What a confirmation needs of a message; immutable, so caching it is always right. */
export interface MessageFact {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly from: string;
  readonly fromDevice?: string;
  readonly ts: number;
}

export class MessageFacts {
  private readonly facts: LRUCache<string, MessageFact>;

  constructor(max: number) {
    this.facts = new LRUCache({ max: Math.max(1, max) });
  }

  note(fact: MessageFact): void {
    this.facts.set(fact.messageId, fact);
  }

  async load(collections: Collections, messageIds: readonly string[]): Promise<Map<string, MessageFact>> {
    const found = new Map<string, MessageFact>();
    const missing: string[] = [];
    for (const messageId of new Set(messageIds)) {
      const fact = this.facts.get(messageId);
      if (fact) found.set(messageId, fact);
      else missing.push(messageId);
    }
    if (missing.length > 0) {
      const docs = await findByIds(collections.messages, collections.idLookup, missing, { _id: 1, conversationId: 1, seq: 1, from: 1, fromDevice: 1, ts: 1 });
      for (const doc of docs) {
        const fact: MessageFact = { messageId: doc._id, conversationId: doc.conversationId, seq: Number(doc.seq), from: doc.from, ...(doc.fromDevice != null ? { fromDevice: doc.fromDevice } : {}), ts: Number(doc.ts) };
        this.note(fact);
        found.set(fact.messageId, fact);
      }
    }
    return found;
  }
}

export interface ConfirmBatchContext {
  readonly collections: Collections;
  readonly heads: HeadCache;
  /** Held per user for every cursor step of a batch (cursors.ts). */
  readonly cursorLocks: KeyedLock;
  readonly devices: DeviceSightings;
  /** Device cursors as last read or written here (device-cursor-cache.ts). */
  readonly deviceCursors?: DeviceCursorCache;
  readonly facts: MessageFacts;
  nextToken(): string;
}

/** One request's work in one conversation. */
interface Step {
  readonly request: number;
  readonly userId: string;
  readonly deviceId: string;
  readonly conversationId: string;
  readonly joinSeq: number;
  /** By id: these messages. Up to: everything to `upTo` (clamped). */
  readonly facts?: MessageFact[];
  readonly upTo?: number;
}

export async function writeConfirmBatch(context: ConfirmBatchContext, batch: readonly ConfirmRequest[]): Promise<ConfirmResult[]> {
  const { collections } = context;
  const facts = await context.facts.load(collections, batch.flatMap((request) => (request.kind === 'ids' ? request.messageIds : [])));

  const results = batch.map((request) => {
    const unknownIds = request.kind === 'ids' ? [...new Set(request.messageIds)].filter((id) => !facts.has(id)).length : 0;
    return { marks: [] as DeliveryMark[], advanced: [] as { conversationId: string; deliveredSeq: number }[], ...(unknownIds > 0 ? { unknownIds } : {}) };
  });
  const userKey = (step: Pick<Step, 'userId' | 'conversationId'>): CursorKey => ({ userId: step.userId, conversationId: step.conversationId });
  const deviceKey = (step: Pick<Step, 'userId' | 'deviceId' | 'conversationId'>): CursorKey => ({ userId: step.userId, deviceId: step.deviceId, conversationId: step.conversationId });
  // Three round trips one after another (bench/tools/store-round-trips.ts): the memberships and the
  // cursors of every (user, conversation) named, collected here once and read together under the
  // users' lock (a non-member's cursors are read for nothing: they are looked up by _id); the
  // receipts; the cursors written.
  const named = new Map<string, CursorKey>();
  const memberships = new Set<string>();
  batch.forEach((request) => {
    const conversations = new Set(request.kind === 'upTo' ? [request.conversationId] : request.messageIds.map((id) => facts.get(id)?.conversationId));
    for (const conversationId of conversations) {
      if (conversationId === undefined) continue;
      memberships.add(membershipId(conversationId, request.userId));
      const pair = { userId: request.userId, deviceId: request.deviceId, conversationId };
      for (const key of [userKey(pair), deviceKey(pair)]) named.set(cursorKeyId(key), key);
    }
  });
  await context.cursorLocks.runAll(batch.map((request) => request.userId), async () => {
    const [steps, cursors] = await Promise.all([
      stepsOf(context, batch, facts, memberships),
      context.devices.ensure(collections, batch.map(({ userId, deviceId }) => ({ userId, deviceId }))).then(() => CursorSet.read(collections, [...named.values()], context.deviceCursors)),
    ]);
    if (steps.length === 0) return;
    const ranges = await readRanges(collections, steps, (step) => cursors.get(userKey(step), step.joinSeq));

    const deliveredAt = Date.now();
    const candidates: { request: number; mark: DeliveryMark; userId: string }[] = [];
    for (const step of steps) {
      const move = (cursor: Cursor) => (step.upTo !== undefined ? advanceToListing(cursor, step.upTo) : advance(cursor, step.facts!.map((fact) => fact.seq)));
      const device = move(cursors.get(deviceKey(step), step.joinSeq));
      if (device.added.length > 0) cursors.set(deviceKey(step), device.cursor);
      const before = cursors.get(userKey(step), step.joinSeq);
      const user = move(before);
      if (user.added.length === 0) continue;
      cursors.set(userKey(step), user.cursor);
      const bySeq = step.upTo !== undefined ? ranges.get(`${step.userId}/${step.conversationId}`)! : new Map(step.facts!.map((fact) => [fact.seq, fact]));
      for (const seq of user.added) {
        const fact = bySeq.get(seq);
        if (!fact || fact.from === step.userId) continue; // its own message: not a delivery
        candidates.push({ request: step.request, userId: step.userId, mark: { messageId: fact.messageId, conversationId: step.conversationId, seq, from: fact.from, deliveredAt, ts: fact.ts } });
      }
      // The watermark with no gap below it (cursor.ts deliveredWatermark: both are past joinSeq here).
      if (user.cursor.upTo > before.upTo) results[step.request]!.advanced.push({ conversationId: step.conversationId, deliveredSeq: user.cursor.upTo });
    }

    const token = context.nextToken();
    const receipts: ReceiptDoc[] = candidates.map(({ userId, mark }) => ({
      _id: receiptId(userId, mark.messageId), userId, messageId: mark.messageId, conversationId: mark.conversationId, seq: mark.seq, from: mark.from, ts: mark.ts, deliveredAt, markedBy: token,
    }));
    const errors = await insertMany(collections.receipts, receipts, false);
    for (const [index, error] of errors) {
      if (error.code !== DUPLICATE_KEY) throw new StoreUnavailableError(`receipt write failed: ${error.errmsg ?? error.code}`);
      void index;
    }
    candidates.forEach((candidate, i) => {
      if (!errors.has(i)) results[candidate.request]!.marks.push(candidate.mark);
    });
    await cursors.write(collections);
  });
  return results;
}

/**
 * Each request's work per conversation, for members only (a non-member's confirmation changes
 * nothing), in request order. `memberships`: the ids of every (conversation, user) the batch names.
 */
async function stepsOf(context: ConfirmBatchContext, batch: readonly ConfirmRequest[], facts: Map<string, MessageFact>, memberships: ReadonlySet<string>): Promise<Step[]> {
  const joined = new Map<string, number>();
  if (memberships.size > 0) {
    const docs = await findByIds(context.collections.memberships, context.collections.idLookup, [...memberships], { joinSeq: 1 });
    for (const doc of docs) joined.set(doc._id, Number(doc.joinSeq));
  }

  const steps: Step[] = [];
  await Promise.all(batch.map(async (request, i) => {
    const { userId, deviceId } = request;
    if (request.kind === 'upTo') {
      const joinSeq = joined.get(membershipId(request.conversationId, userId));
      if (joinSeq === undefined) return;
      // Clamped to the last seq: the stored head, unless this process already knows it is that far.
      const upTo = Math.min(request.seq, await context.heads.atLeast(request.conversationId, request.seq));
      steps.push({ request: i, userId, deviceId, conversationId: request.conversationId, joinSeq, upTo });
      return;
    }
    const byConversation = new Map<string, MessageFact[]>();
    for (const id of new Set(request.messageIds)) {
      const fact = facts.get(id);
      if (!fact || (fact.from === userId && fact.fromDevice === deviceId)) continue;
      const joinSeq = joined.get(membershipId(fact.conversationId, userId));
      if (joinSeq === undefined || fact.seq <= joinSeq) continue;
      const list = byConversation.get(fact.conversationId);
      if (list) list.push(fact);
      else byConversation.set(fact.conversationId, [fact]);
    }
    for (const [conversationId, list] of byConversation) {
      steps.push({ request: i, userId, deviceId, conversationId, joinSeq: joined.get(membershipId(conversationId, userId))!, facts: list });
    }
  }));
  return steps.sort((a, b) => a.request - b.request);
}

/** Users' ranges in one conversation closer than this (in seqs) are read as one range. */
const RANGE_JOIN_GAP = 256;

/**
 * For each confirmUpTo step, the messages it may newly cover for its user, from the user's watermark
 * (its own among them: the caller skips those, as for confirmations by id). The (user, conversation) ranges of one conversation that overlap or lie close
 * are read together, one read on the conversation's seq index, and each user's share is cut from it:
 * the 999 members of a group confirming the same new message were 999 reads of one message each, in
 * one batch (bench/group-fanout.ts --store mongo --confirm).
 */
async function readRanges(collections: Collections, steps: readonly Step[], userCursor: (step: Step) => Cursor): Promise<Map<string, Map<number, MessageFact>>> {
  const wanted = new Map<string, { conversationId: string; from: number; to: number }>();
  for (const step of steps) {
    if (step.upTo === undefined) continue;
    const key = `${step.userId}/${step.conversationId}`;
    const from = userCursor(step).upTo;
    const range = wanted.get(key);
    if (range) range.to = Math.max(range.to, step.upTo);
    else wanted.set(key, { conversationId: step.conversationId, from, to: step.upTo });
  }
  const byConversation = new Map<string, { from: number; to: number }[]>();
  for (const { conversationId, from, to } of wanted.values()) {
    if (to <= from) continue;
    const list = byConversation.get(conversationId);
    if (list) list.push({ from, to });
    else byConversation.set(conversationId, [{ from, to }]);
  }
  const reads = [...byConversation].flatMap(([conversationId, list]) => joinRanges(list).map((range) => ({ conversationId, ...range })));
  const read = new Map<string, Map<number, MessageFact>>();
  // All at once, as before the join: a batch is at most DB_BATCH_MAX_OPS confirmations.
  await Promise.all(reads.map(async ({ conversationId, from, to }) => {
    const docs = await collections.messages.find({ conversationId, seq: { $gt: from, $lte: to } }, { projection: { _id: 1, seq: 1, from: 1, ts: 1 } }).toArray();
    let bySeq = read.get(conversationId);
    if (!bySeq) read.set(conversationId, (bySeq = new Map()));
    for (const doc of docs) bySeq.set(Number(doc.seq), { messageId: doc._id, conversationId, seq: Number(doc.seq), from: doc.from, ts: Number(doc.ts) });
  }));
  const ranges = new Map<string, Map<number, MessageFact>>();
  for (const [key, { conversationId, from, to }] of wanted) {
    const mine = new Map<number, MessageFact>();
    ranges.set(key, mine);
    const all = read.get(conversationId);
    if (!all || to <= from) continue;
    for (let seq = from + 1; seq <= to; seq++) {
      const fact = all.get(seq);
      if (fact) mine.set(seq, fact);
    }
  }
  return ranges;
}

/** The ranges (from, to], joined where they overlap or lie within RANGE_JOIN_GAP of each other. */
function joinRanges(ranges: readonly { from: number; to: number }[]): { from: number; to: number }[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const joined: { from: number; to: number }[] = [];
  for (const { from, to } of sorted) {
    const last = joined.at(-1);
    if (last && from <= last.to + RANGE_JOIN_GAP) last.to = Math.max(last.to, to);
    else joined.push({ from, to });
  }
  return joined;
}
