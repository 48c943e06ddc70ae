// One persist batch. Per batch, whatever the group sizes: one read of existing ids, one read of the
// senders' memberships, head reads for conversations this process has not seen, one ordered
// insertMany of the messages, and one bulk of cursor upserts per (sender, conversation) and
// (sender device, conversation). Nothing per member: delivery state lives in cursors.
//
// Seq assignment (docs/store.md, "Seq"): each new message takes head + 1 of its conversation, in batch
// order. The insert is ordered, so when document i fails nothing after it is stored: a seq collision
// (another process took that seq; unique (conversationId, seq)) or a duplicate messageId (another
// process stored that id since we looked) stops the write there. The rest are given seqs again from
// re-read heads, so seqs stay gapless and unique whichever processes write the conversation.
// Existing ids are checked before any seq is assigned, so a retried id never burns a seq.
//
// No send in the batch resolves until every write of the batch is acknowledged: a SENT ack means the
// message and its sender's cursors are stored.
import { findByIds } from './find-by-ids.js';
import type { WriteError } from 'mongodb';
import { directConversationId, isDirectConversationId } from '../conversation-ids.js';
import { advance } from '../cursor.js';
import { StoreUnavailableError, type NewMessage, type PersistResult, type SenderGate, type StoredMessage } from '../store.js';
import type { KeyedLock } from '../../lock.js';
import { CursorSet, cursorKeyId, type CursorKey } from './cursors.js';
import type { DeviceSightings } from './device-sightings.js';
import type { DeviceCursorCache } from './device-cursor-cache.js';
import { DUPLICATE_KEY, MESSAGE_PROJECTION, membershipId, toStoredMessage, type Collections, type MessageDoc } from './documents.js';
import { sameContent } from '../same-content.js';
import type { HeadCache } from './heads.js';
import { insertMany } from './insert.js';
import { ensureDirectConversations } from './membership.js';

/**
 * Rounds of "assign again what did not go in" before the rest of a batch is refused as unavailable:
 * with the pauses below, up to ~1-2 s of contention (16 rounds without pauses refused 7-8 of ~350
 * sends when two instances wrote one conversation flat out on FerretDB; 48 with them, 0-1).
 */
const MAX_ROUNDS = 48;

/**
 * After a seq collision, a random pause before the next round, up to 2^round ms (at most this). The
 * process that wrote a conversation last knows its head and writes again at once; one that lost
 * reads the head and tries again, and without a pause it kept losing to a busy writer's next batch
 * (operator probe: acks taking seconds, and refusals, through the instance that wrote less; figures
 * above and in docs/store.md, "Seq").
 */
const MAX_COLLISION_PAUSE_MS = 32;

export interface PersistBatchContext {
  readonly collections: Collections;
  readonly heads: HeadCache;
  /** Held per user for every cursor step of a batch (cursors.ts). */
  readonly cursorLocks: KeyedLock;
  readonly devices: DeviceSightings;
  /** Device cursors as last read or written here (device-cursor-cache.ts). */
  readonly deviceCursors?: DeviceCursorCache;
  /** A token unique to this write, stored in `insertedBy`. */
  nextToken(): string;
  /** A seq was taken by another process (a stale head): counted for tests and operators. */
  onSeqCollision?(): void;
  /** Asked after the membership read, before the insert (Store.admitSenders). */
  readonly gate?: SenderGate;
}

interface Lead {
  readonly message: NewMessage;
  readonly conversationId: string | undefined;
  stored?: StoredMessage;
  outcome?: 'created' | 'duplicate' | 'conflict' | 'not_member' | 'banned' | Error;
  recipients?: number;
  /** `to` of a direct message as stored: the other member. */
  to?: string;
}

export async function writePersistBatch(context: PersistBatchContext, batch: readonly NewMessage[]): Promise<Array<PersistResult | Error>> {
  const { collections } = context;
  // One write per messageId; later sends of the same id in this batch are judged against the lead.
  const leads = new Map<string, Lead>();
  const isLead = batch.map((message) => {
    if (leads.has(message.messageId)) return false;
    const conversationId = message.conversationId ?? (message.to !== undefined ? directConversationId(message.from, message.to) : undefined);
    leads.set(message.messageId, { message, conversationId });
    return true;
  });
  const all = [...leads.values()];

  // Three round trips one after another, whatever the batch holds (bench/tools/store-round-trips.ts):
  // 1. Retries and reused ids, before any seq is assigned; the senders' memberships, read at the same
  //    time (never from a cache: a removed member must not send).
  const readAt = Date.now();
  const [, membership] = await Promise.all([judgeExisting(collections, all), readMembership(collections, all)]);
  const fresh = all.filter((lead) => lead.outcome === undefined);
  await checkMembership(context, fresh, membership);
  // 2. Seqs and the ordered insert, in rounds; the senders' cursors are read meanwhile, under their lock.
  // 3. The sender has its own message: its user cursor and its sending device's cursor pass over it.
  const inserted = insertMessages(context, fresh.filter((lead) => lead.outcome === undefined), readAt);
  await advanceSenders(context, all.filter((lead) => lead.outcome === undefined || lead.outcome === 'duplicate'), inserted);

  return batch.map((message, i): PersistResult | Error => {
    const lead = leads.get(message.messageId)!;
    if (lead.outcome instanceof Error) return lead.outcome;
    if (lead.outcome === 'not_member') return isLead[i] ? { kind: 'not_member', messageId: message.messageId } : judge(lead, message);
    if (lead.outcome === 'banned') return { kind: 'banned', messageId: message.messageId };
    if (isLead[i]) {
      if (lead.outcome === 'conflict') return { kind: 'conflict', messageId: message.messageId };
      return { kind: lead.outcome!, message: lead.stored! };
    }
    return judge(lead, message);
  });
}

function refusedBy(refusal: 'banned' | 'removed' | undefined, byServer: boolean | undefined): Lead['outcome'] {
  if (refusal === 'removed') return 'not_member';
  return refusal === 'banned' && !byServer ? 'banned' : undefined;
}

/** A later send of a lead's id in the same batch. */
function judge(lead: Lead, message: NewMessage): PersistResult {
  if (!lead.stored) return lead.outcome === 'not_member' && sameRequest(lead.message, message) ? { kind: 'not_member', messageId: message.messageId } : { kind: 'conflict', messageId: message.messageId };
  const conversationId = message.conversationId ?? (message.to !== undefined ? directConversationId(message.from, message.to) : '');
  return sameContent(lead.stored, message.from, conversationId, message.body, message.event?.target) ? { kind: 'duplicate', message: lead.stored } : { kind: 'conflict', messageId: message.messageId };
}

function sameRequest(a: NewMessage, b: NewMessage): boolean {
  return a.from === b.from && a.body === b.body && a.conversationId === b.conversationId && a.to === b.to && a.event?.target === b.event?.target;
}

async function judgeExisting(collections: Collections, leads: Lead[]): Promise<void> {
  if (leads.length === 0) return;
  const docs = await findByIds(collections.messages, collections.idLookup, leads.map((lead) => lead.message.messageId), MESSAGE_PROJECTION, { sized: false });
  const byId = new Map(docs.map((doc) => [doc._id, toStoredMessage(doc)]));
  for (const lead of leads) {
    const stored = byId.get(lead.message.messageId);
    if (stored) settleExisting(lead, stored);
  }
}

function settleExisting(lead: Lead, stored: StoredMessage): void {
  lead.stored = stored;
  lead.outcome = lead.conversationId !== undefined && sameContent(stored, lead.message.from, lead.conversationId, lead.message.body, lead.message.event?.target) ? 'duplicate' : 'conflict';
}

/** What checkMembership needs from the database, read for every lead before any is judged. */
interface MembershipRead {
  /** Membership ids (conversation, sender) that exist. */
  readonly members: Set<string>;
  /** Members of each direct conversation named by id; the member count of each group named. */
  readonly sizes: Map<string, number>;
  readonly directMembers: Map<string, string[]>;
}

async function readMembership(collections: Collections, leads: Lead[]): Promise<MembershipRead> {
  const asking = leads.filter((lead) => lead.conversationId !== undefined);
  const ids = [...new Set(asking.map((lead) => membershipId(lead.conversationId!, lead.message.from)))];
  // Recipients (for counts(), inspection only) and, for a direct conversation named by id, `to`: one
  // indexed read per conversation named by id in the batch (a direct one has two members).
  const named = [...new Set(asking.filter((lead) => lead.message.conversationId !== undefined).map((lead) => lead.conversationId!))];
  const sizes = new Map<string, number>();
  const directMembers = new Map<string, string[]>();
  const [found] = await Promise.all([
    ids.length === 0 ? [] : findByIds(collections.memberships, collections.idLookup, ids, { _id: 1 }, { sized: false }),
    ...named.map(async (id) => {
      if (isDirectConversationId(id)) {
        const docs = await collections.memberships.find({ conversationId: id }, { projection: { userId: 1 } }).toArray();
        directMembers.set(id, docs.map((doc) => doc.userId));
        sizes.set(id, docs.length);
      } else {
        sizes.set(id, await collections.memberships.countDocuments({ conversationId: id }));
      }
    }),
  ]);
  return { members: new Set(found.map((doc) => doc._id)), sizes, directMembers };
}

async function checkMembership(context: PersistBatchContext, leads: Lead[], read: MembershipRead): Promise<void> {
  const { collections } = context;
  for (const lead of leads) if (lead.conversationId === undefined) lead.outcome = 'not_member';
  const asking = leads.filter((lead) => lead.outcome === undefined);
  if (asking.length === 0) return;
  const { members, sizes, directMembers } = read;

  // A direct message whose sender is not (yet) a member: the conversation is created on first use.
  const direct = asking.filter((lead) => !members.has(membershipId(lead.conversationId!, lead.message.from)) && lead.message.conversationId === undefined);
  const created = await ensureDirectConversations(
    collections,
    direct.map((lead) => ({ conversationId: lead.conversationId!, members: [lead.message.from, lead.message.to!], at: lead.message.ts })),
  );
  // A conversation just created has no messages: its head is 0 without asking. (0 is never ahead of
  // the truth, so this holds even if another instance wrote there meanwhile: a seq collision re-reads.)
  for (const id of created) context.heads.note(id, 0);
  // A conversation found complete was created meanwhile by another instance's first message (or the
  // sender was removed): read the sender's membership again rather than refuse a member.
  const recheck = [...new Set(direct.filter((lead) => !created.has(lead.conversationId!)).map((lead) => membershipId(lead.conversationId!, lead.message.from)))];
  if (recheck.length > 0) {
    for (const doc of await findByIds(collections.memberships, collections.idLookup, recheck, { _id: 1 }, { sized: false })) members.add(doc._id);
  }
  for (const lead of asking) {
    if (!members.has(membershipId(lead.conversationId!, lead.message.from)) && !created.has(lead.conversationId!)) lead.outcome = 'not_member';
  }

  for (const lead of asking) {
    if (lead.outcome !== undefined) continue;
    const { from, to } = lead.message;
    if (lead.message.conversationId === undefined) {
      lead.to = to;
      lead.recipients = to === from ? 0 : 1;
    } else {
      lead.recipients = Math.max(0, (sizes.get(lead.conversationId!) ?? 1) - 1);
      const members = directMembers.get(lead.conversationId!);
      if (members) lead.to = members.find((member) => member !== from) ?? from;
    }
  }
}

/** `readAt`: when the batch's membership read began (the gate refuses what was removed or banned since). */
async function insertMessages(context: PersistBatchContext, leads: Lead[], readAt: number): Promise<void> {
  const { collections, heads } = context;
  let open = leads;
  let stale = false;
  for (let round = 1; open.length > 0; round++) {
    if (round > MAX_ROUNDS) {
      const error = new StoreUnavailableError(`messages write did not complete after ${MAX_ROUNDS} rounds (seq contention)`);
      for (const lead of open) lead.outcome = error;
      return;
    }
    if (stale) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** round, MAX_COLLISION_PAUSE_MS)));
    // After a collision every head of the rest is read again, not only the one that collided: with
    // several instances writing, a stale cached head is the rule, and one round per stale
    // conversation would not end in time for a batch spanning hundreds of conversations.
    const ids = [...new Set(open.map((lead) => lead.conversationId!))];
    const next = new Map(await Promise.all(ids.map(async (id) => [id, stale ? await heads.read(id) : await heads.get(id)] as const)));
    stale = false;
    // Just before each insert, what this process heard since the membership read: a removal (from
    // another instance, over the bus) or a ban. A batch that lost its seqs to a message sent after a
    // removal is refused here in its next round. This narrows the race to one insert's round trip
    // plus the bus's delay; it is not a fence (docs/store.md).
    if (context.gate) {
      for (const lead of open) lead.outcome = refusedBy(context.gate(lead.message.from, lead.conversationId!, readAt), lead.message.byServer);
      open = open.filter((lead) => lead.outcome === undefined);
      if (open.length === 0) return;
    }
    const token = context.nextToken();
    const docs: MessageDoc[] = open.map((lead) => {
      const m = lead.message;
      const seq = next.get(lead.conversationId!)! + 1;
      next.set(lead.conversationId!, seq);
      return {
        _id: m.messageId,
        conversationId: lead.conversationId!,
        seq,
        from: m.from,
        ...(m.fromDevice !== undefined ? { fromDevice: m.fromDevice } : {}),
        ...(lead.to !== undefined ? { to: lead.to } : {}),
        body: m.body,
        ts: m.ts,
        recipients: lead.recipients ?? 0,
        insertedBy: token,
        ...(m.event !== undefined ? { event: m.event.kind, target: m.event.target } : {}),
      };
    });
    const errors = await insertMany(collections.messages, docs, true);
    const failedAt = errors.size === 0 ? docs.length : Math.min(...errors.keys());
    for (let i = 0; i < failedAt; i++) {
      open[i]!.outcome = 'created';
      open[i]!.stored = toStoredMessage(docs[i]!);
      heads.note(docs[i]!.conversationId, docs[i]!.seq);
    }
    if (failedAt === docs.length) return;
    const failed = open[failedAt]!;
    const error: WriteError = errors.get(failedAt)!;
    if (error.code === DUPLICATE_KEY) {
      // Either its messageId was stored meanwhile (a retry racing on another process: judge it), or
      // its seq was taken (a stale head: read the head again). Reading the id tells which.
      // Either way another process wrote here since the heads were read: read them again.
      const doc = await collections.messages.findOne({ _id: failed.message.messageId }, { projection: MESSAGE_PROJECTION });
      if (doc) settleExisting(failed, toStoredMessage(doc));
      else context.onSeqCollision?.();
      stale = true;
    } else if (round >= 3) {
      failed.outcome = new StoreUnavailableError(`message write failed: ${error.errmsg ?? error.code}`);
    }
    // Everything after the failure was not stored: assign again from the heads (re-read where stale).
    open = open.slice(failedAt).filter((lead) => lead.outcome === undefined);
  }
}

/**
 * The senders' cursors pass over their stored messages (a duplicate re-applies it: its first attempt
 * may have stopped before this step). `leads` are those that may be stored: the ones being inserted
 * (`inserted` settles when they are) and the duplicates found so far. Their cursors are read under the
 * senders' lock while the insert runs, and written only after it, for the leads it stored: a cursor
 * never passes a seq that is not stored, and the lock is held no longer than a read and a write.
 */
async function advanceSenders(context: PersistBatchContext, leads: Lead[], inserted: Promise<void>): Promise<void> {
  const { collections } = context;
  if (leads.length === 0) return inserted;
  // What each lead will move: the stored message's sender, device and conversation where it is known
  // (a duplicate), else what the insert stores (the message's own).
  const expected = leads.map((lead): SenderFields => lead.stored ?? { from: lead.message.from, fromDevice: lead.message.fromDevice, conversationId: lead.conversationId! });
  await context.cursorLocks.runAll(leads.map((lead) => lead.message.from), async () => {
    const [read, insert] = await Promise.allSettled([readSenderCursors(context, expected), inserted]);
    if (insert.status === 'rejected') throw insert.reason;
    if (read.status === 'rejected') throw read.reason;
    const stored = leads.filter((lead) => lead.outcome === 'created' || lead.outcome === 'duplicate').map((lead) => lead.stored!);
    const moves = senderMoves(stored);
    // A duplicate found during the insert (a retry racing on another process) may name another device.
    const cursors = [...moves.keys()].every((id) => read.value.has(id)) ? read.value.cursors : (await readSenderCursors(context, stored)).cursors;
    for (const { key, seqs } of moves.values()) {
      const moved = advance(cursors.get(key, 0), seqs);
      if (moved.added.length > 0) cursors.set(key, moved.cursor);
    }
    await cursors.write(collections);
  });
}

type SenderFields = Pick<StoredMessage, 'from' | 'fromDevice' | 'conversationId'>;

/** Each cursor a batch moves (the sender's, and its sending device's, in the conversation) and the seqs it passes over. */
function senderMoves(messages: readonly (SenderFields & { seq: number })[]): Map<string, { key: CursorKey; seqs: number[] }> {
  const moves = new Map<string, { key: CursorKey; seqs: number[] }>();
  for (const m of messages) {
    for (const key of senderKeys(m)) {
      const id = cursorKeyId(key);
      const entry = moves.get(id);
      if (entry) entry.seqs.push(m.seq);
      else moves.set(id, { key, seqs: [m.seq] });
    }
  }
  return moves;
}

function senderKeys(m: SenderFields): CursorKey[] {
  const user: CursorKey = { userId: m.from, conversationId: m.conversationId };
  return m.fromDevice === undefined ? [user] : [user, { userId: m.from, deviceId: m.fromDevice, conversationId: m.conversationId }];
}

/** The senders' cursors (a device seen for the first time copies its user's first). */
async function readSenderCursors(context: PersistBatchContext, messages: readonly SenderFields[]): Promise<{ cursors: CursorSet; has(id: string): boolean }> {
  const keys = new Map<string, CursorKey>();
  for (const m of messages) for (const key of senderKeys(m)) keys.set(cursorKeyId(key), key);
  const devices = messages.filter((m) => m.fromDevice !== undefined).map((m) => ({ userId: m.from, deviceId: m.fromDevice! }));
  await context.devices.ensure(context.collections, devices);
  const cursors = await CursorSet.read(context.collections, [...keys.values()], context.deviceCursors);
  return { cursors, has: (id) => keys.has(id) };
}

