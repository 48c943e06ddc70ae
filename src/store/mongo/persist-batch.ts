// One persist batch: messages first (upsert by messageId with $setOnInsert, unordered), then their
// delivery entries (ordered by sort key). Only after both are acknowledged does any send in the batch
// resolve, so a SENT ack always means "message and delivery entry are stored".
//
// Message before delivery: an entry visible to a replay always has its message. A crash between the
// two writes leaves a message without an entry; its sender got no SENT ack and retries, and the retry
// (a duplicate) writes the missing entry. That is why duplicates upsert their entry too.
import { MongoBulkWriteError, type AnyBulkWriteOperation, type BulkWriteResult, type Collection, type Document } from 'mongodb';
import type { NewMessage, PersistResult, StoredMessage } from '../store.js';
import { StoreUnavailableError } from '../store.js';
import {
  deliveryId,
  MESSAGE_PROJECTION,
  sameContent,
  toStoredMessage,
  type Collections,
  type DeliveryDoc,
  type MessageDoc,
} from './documents.js';

/** Rounds of "write what is not stored yet" when a bulk write stops early (FerretDB stops at the first error). */
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

export async function writePersistBatch(
  context: PersistBatchContext,
  batch: readonly NewMessage[],
): Promise<Array<PersistResult | Error>> {
  // One write per messageId; later sends of the same id in this batch are judged against the winner.
  const leads = new Map<string, Lead>();
  const isLead = batch.map((message) => !leads.has(message.messageId) && !!leads.set(message.messageId, { message }));

  await upsertMessages(context, [...leads.values()]);
  await upsertDeliveries(context.collections, [...leads.values()].filter((lead) => lead.outcome !== 'conflict'));

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

async function upsertMessages(context: PersistBatchContext, leads: Lead[]): Promise<void> {
  const { messages } = context.collections;
  let open = leads;
  for (let round = 1; open.length > 0; round++) {
    if (round > MAX_ROUNDS) throw new StoreUnavailableError(`messages write did not complete after ${MAX_ROUNDS} rounds`);
    const token = context.nextToken();
    const ops: AnyBulkWriteOperation<MessageDoc>[] = open.map(({ message: m }) => ({
      updateOne: {
        filter: { _id: m.messageId },
        update: { $setOnInsert: { from: m.from, to: m.to, body: m.body, ts: m.ts, seq: m.seq, insertedBy: token } },
        upsert: true,
      },
    }));
    const { result, stoppedEarly } = await bulkWrite(messages, ops, false);
    // New vs retry by the set of upserted _id values: servers number `upsertedIds` keys differently.
    const upserted = new Set<unknown>(Object.values(result?.upsertedIds ?? {}));
    const unknown: Lead[] = [];
    for (const lead of open) {
      if (upserted.has(lead.message.messageId)) {
        lead.outcome = 'created';
        lead.stored = Object.freeze({ ...lead.message });
      } else {
        unknown.push(lead);
      }
    }
    if (unknown.length === 0) return;
    // Matched (a retry or a reused id) or not written at all: read what is stored, once.
    const docs = await messages
      .find({ _id: { $in: unknown.map((lead) => lead.message.messageId) } }, { projection: { ...MESSAGE_PROJECTION, insertedBy: 1 } })
      .toArray();
    const byId = new Map(docs.map((doc) => [doc._id, doc]));
    open = [];
    for (const lead of unknown) {
      const doc = byId.get(lead.message.messageId);
      if (!doc) {
        if (!stoppedEarly) throw new StoreUnavailableError(`message ${lead.message.messageId} was neither inserted nor found`);
        open.push(lead); // the bulk write stopped before this one: write it again
        continue;
      }
      lead.stored = toStoredMessage(doc);
      // Ours even if the server's reply lost track of the upsert (an error reply after a partial write).
      if (doc.insertedBy === token) lead.outcome = 'created';
      else lead.outcome = sameContent(lead.stored, lead.message) ? 'duplicate' : 'conflict';
      if (lead.outcome === 'created') lead.stored = Object.freeze({ ...lead.message });
    }
  }
}

async function upsertDeliveries(collections: Collections, leads: Lead[]): Promise<void> {
  if (leads.length === 0) return;
  // Ordered by sort key: a replay reading during this write sees a prefix of the batch, never a later
  // message without an earlier one.
  // Normally the message's key. A duplicate only inserts here when a crash lost the entry; it then
  // takes the retry's fresh key, since the first attempt was never acknowledged (docs/store.md).
  const entrySeq = (lead: Lead) => (lead.outcome === 'duplicate' ? lead.message.seq : lead.stored!.seq);
  const sorted = [...leads].sort((a, b) => entrySeq(a) - entrySeq(b));
  const ops: AnyBulkWriteOperation<DeliveryDoc>[] = sorted.map((lead) => {
    const m = lead.stored!;
    return {
      updateOne: {
        filter: { _id: deliveryId(m.to, m.messageId) },
        update: {
          $setOnInsert: {
            messageId: m.messageId,
            to: m.to,
            from: m.from,
            ts: m.ts,
            seq: entrySeq(lead),
            status: 'pending',
            marks: 0,
          },
        },
        upsert: true,
      },
    };
  });
  for (let round = 1; ; round++) {
    // Upserts of fixed ids with $setOnInsert are idempotent: a stopped or failed write is written again whole.
    const { stoppedEarly } = await bulkWrite(collections.deliveries, ops, true);
    if (!stoppedEarly) return;
    if (round >= MAX_ROUNDS) throw new StoreUnavailableError(`deliveries write did not complete after ${MAX_ROUNDS} rounds`);
  }
}

/**
 * A bulk write whose per-operation errors (duplicate-key races, a server stopping at the first error)
 * come back as data; a write concern error or a lost connection throws: nothing in it is known durable.
 */
export async function bulkWrite<T extends Document>(
  collection: Collection<T>,
  ops: AnyBulkWriteOperation<T>[],
  ordered: boolean,
): Promise<{ result: BulkWriteResult | undefined; stoppedEarly: boolean }> {
  try {
    return { result: await collection.bulkWrite(ops, { ordered }), stoppedEarly: false };
  } catch (error) {
    if (error instanceof MongoBulkWriteError && [error.writeErrors].flat().length > 0 && !error.result.getWriteConcernError()) {
      return { result: error.result, stoppedEarly: true };
    }
    throw error;
  }
}
