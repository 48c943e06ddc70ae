// One persist batch: messages first (one unordered insertMany keyed by messageId), then their
// delivery entries (one insertMany ordered by sort key). No send in the batch resolves until both
// writes are acknowledged, so a SENT ack always means "message and delivery entry are stored".
//
// Insert, not upsert: the `_id` unique key makes an insert exactly as idempotent as an
// `updateOne(upsert, $setOnInsert)` (an existing document is never touched, the attempt reports a
// duplicate-key error instead), and it is the cheaper write: about 10x faster on FerretDB v1, which
// runs each upsert of a bulk as its own find-then-write. It also avoids a FerretDB v1 bug: every
// updateOne that matches a document (a retried send's upsert) holds a PostgreSQL connection until the
// command ends, and more of them than its pool deadlocks the server for good (docs/store.md, "Batching").
//
// Message before delivery: an entry visible to a replay always has its message. A crash between the
// two writes leaves a message without an entry; its sender got no SENT ack and retries, and the retry
// (a duplicate) writes the missing entry. That is why duplicates insert their entry too.
import { MongoBulkWriteError, type Collection, type Document, type OptionalUnlessRequiredId, type WriteError } from 'mongodb';
import type { NewMessage, PersistResult, StoredMessage } from '../store.js';
import { StoreUnavailableError } from '../store.js';
import {
  deliveryId,
  DUPLICATE_KEY,
  MESSAGE_PROJECTION,
  sameContent,
  toStoredMessage,
  type Collections,
  type DeliveryDoc,
  type MessageDoc,
} from './documents.js';

/** Rounds of "write again what failed for another reason than a duplicate key" before giving up. */
const MAX_ROUNDS = 3;

export interface PersistBatchContext {
  readonly collections: Collections;
  /** A token unique to this write, stored in `insertedBy`. */
  nextToken(): string;
}

interface Lead {
  readonly message: NewMessage;
  stored?: StoredMessage;
  outcome?: 'created' | 'duplicate' | 'conflict';
}

export async function writePersistBatch(context: PersistBatchContext, batch: readonly NewMessage[]): Promise<PersistResult[]> {
  // One write per messageId; later sends of the same id in this batch are judged against the winner.
  const leads = new Map<string, Lead>();
  const isLead = batch.map((message) => !leads.has(message.messageId) && !!leads.set(message.messageId, { message }));

  await insertMessages(context, [...leads.values()]);
  await insertDeliveries(context.collections, [...leads.values()].filter((lead) => lead.outcome !== 'conflict'));

  return batch.map((message, i): PersistResult => {
    const lead = leads.get(message.messageId)!;
    const stored = lead.stored!;
    if (isLead[i]) {
      if (lead.outcome === 'created') return { kind: 'created', message: stored };
      if (lead.outcome === 'duplicate') return { kind: 'duplicate', message: stored };
      return { kind: 'conflict', messageId: message.messageId };
    }
    return sameContent(stored, message) ? { kind: 'duplicate', message: stored } : { kind: 'conflict', messageId: message.messageId };
  });
}

async function insertMessages(context: PersistBatchContext, leads: Lead[]): Promise<void> {
  const { messages } = context.collections;
  let open = leads;
  for (let round = 1; open.length > 0; round++) {
    if (round > MAX_ROUNDS) throw new StoreUnavailableError(`messages write did not complete after ${MAX_ROUNDS} rounds`);
    const token = context.nextToken();
    const docs: MessageDoc[] = open.map(({ message: m }) => ({
      _id: m.messageId, from: m.from, to: m.to, body: m.body, ts: m.ts, seq: m.seq, insertedBy: token,
    }));
    const errors = await insertMany(messages, docs, false);
    // New vs retry by the set of ids that were inserted (every one without a write error).
    const existing: Lead[] = [];
    const retry: Lead[] = [];
    open.forEach((lead, i) => {
      const error = errors.get(i);
      if (!error) {
        lead.outcome = 'created';
        lead.stored = Object.freeze({ ...lead.message });
      } else if (error.code === DUPLICATE_KEY) {
        existing.push(lead);
      } else {
        retry.push(lead);
      }
    });
    if (existing.length > 0) {
      // A retry or a reused id: read what is stored, once, to tell duplicate from conflict.
      const docs = await messages
        .find({ _id: { $in: existing.map((lead) => lead.message.messageId) } }, { projection: { ...MESSAGE_PROJECTION, insertedBy: 1 } })
        .toArray();
      const byId = new Map(docs.map((doc) => [doc._id, doc]));
      for (const lead of existing) {
        const doc = byId.get(lead.message.messageId);
        if (!doc) throw new StoreUnavailableError(`message ${lead.message.messageId} reported as existing but not found`);
        lead.stored = toStoredMessage(doc);
        lead.outcome = sameContent(lead.stored, lead.message) ? 'duplicate' : 'conflict';
      }
    }
    open = retry;
  }
}

async function insertDeliveries(collections: Collections, leads: Lead[]): Promise<void> {
  const entryOf = (lead: Lead, seq: number): DeliveryDoc => {
    const m = lead.stored!;
    return { _id: deliveryId(m.to, m.messageId), messageId: m.messageId, to: m.to, from: m.from, ts: m.ts, seq, status: 'pending', marks: 0 };
  };
  // Duplicates first, unordered: their entry normally exists (a duplicate-key error, ignored). It is
  // missing only when a crash came between the two writes of the first attempt; it then takes the
  // retry's fresh key, since that attempt was never acknowledged (docs/store.md). Written before the
  // new entries, so a replay that sees a new entry also sees every repaired one.
  const repairs = leads.filter((lead) => lead.outcome === 'duplicate').map((lead) => entryOf(lead, lead.message.seq));
  if (repairs.length > 0) {
    const errors = await insertMany(collections.deliveries, repairs, false);
    const failed = [...errors.values()].find((error) => error.code !== DUPLICATE_KEY);
    if (failed) throw new StoreUnavailableError(`deliveries write failed: ${failed.errmsg ?? failed.code}`);
  }
  // New messages' entries cannot exist yet (an entry is only written after its message). Ordered by
  // sort key: a replay reading during this write sees a prefix of the batch, never a later message
  // without an earlier one.
  const entries = leads
    .filter((lead) => lead.outcome === 'created')
    .map((lead) => entryOf(lead, lead.stored!.seq))
    .sort((a, b) => a.seq - b.seq);
  let remaining = entries;
  for (let round = 1; remaining.length > 0; round++) {
    const errors = await insertMany(collections.deliveries, remaining, true);
    if (errors.size === 0) return;
    const [index, error] = [...errors][0]!;
    // Stopped at `index`: what came before is written; a duplicate key there means it is too.
    if (error.code === DUPLICATE_KEY) remaining = remaining.slice(index + 1);
    else if (round >= MAX_ROUNDS) throw new StoreUnavailableError(`deliveries write failed: ${error.errmsg ?? error.code}`);
    else remaining = remaining.slice(index);
  }
}

/**
 * insertMany whose per-document errors come back as data (index → error); a write concern error or
 * a lost connection throws: nothing in the write is known durable.
 */
export async function insertMany<T extends Document>(
  collection: Collection<T>,
  docs: OptionalUnlessRequiredId<T>[],
  ordered: boolean,
): Promise<Map<number, WriteError>> {
  const errors = new Map<number, WriteError>();
  if (docs.length === 0) return errors;
  try {
    await collection.insertMany(docs, { ordered });
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError) || error.result.getWriteConcernError()) throw error;
    const writeErrors = [error.writeErrors].flat();
    if (writeErrors.length === 0) throw error;
    for (const writeError of writeErrors) errors.set(writeError.index, writeError);
  }
  return errors;
}
