// One delivery-marking batch. The mark itself is the insert of a receipt keyed like the delivery: a
// unique-key insert is atomic on MongoDB and on FerretDB v1 alike (FerretDB's conditional updates are
// read-modify-write, so two racing `status: pending` updates can both "win" there). Then the delivery
// entries flip `pending` → `delivered` (`$inc marks`, conditional) so replay stops listing them.
//
//   1. which requested deliveries exist and are the caller's (the cursor cache knows many already);
//   2. insertMany(receipts, unordered): inserted = marked now, exactly once; duplicate key = marked
//      before (by any instance);
//   3. one conditional updateMany per user over the deliveries of 2 (`to`, status pending,
//      `_id: {$in}` → delivered), unordered: also repairs an entry left pending when an earlier batch
//      stopped between 2 and 3. No updateOne: FerretDB v1 holds a PostgreSQL connection per matched
//      updateOne until the command ends and deadlocks when they outnumber its pool. `to` in the
//      filter: FerretDB v1 narrows by it, and scans the whole collection for `_id: {$in}` alone.
import type { AnyBulkWriteOperation } from 'mongodb';
import type { DeliveryCursorCache, PendingFact } from '../cursor-cache.js';
import { StoreUnavailableError, type DeliveryMark } from '../store.js';
import { deliveryId, DUPLICATE_KEY, type Collections, type DeliveryDoc, type ReceiptDoc } from './documents.js';
import { insertMany } from './persist-batch.js';

const STATUS_ATTEMPTS = 3;

export interface MarkRequest {
  /** The confirming user: only deliveries addressed to them can be marked. */
  readonly userId: string;
  readonly messageId: string;
}

export interface MarkBatchContext {
  readonly collections: Collections;
  readonly cache: DeliveryCursorCache;
  nextToken(): string;
}

/**
 * One result per request: the mark made now, null (not pending, not theirs, unknown, or a repeat in
 * this batch), or an Error for a request whose receipt could not be written.
 */
export async function writeMarkBatch(
  context: MarkBatchContext,
  batch: readonly MarkRequest[],
): Promise<Array<DeliveryMark | null | Error>> {
  const { collections, cache } = context;
  const first = new Map<string, number>(); // delivery id → index of its first request
  batch.forEach((request, i) => {
    const id = deliveryId(request.userId, request.messageId);
    if (!first.has(id)) first.set(id, i);
  });

  // 1. Existence and ownership: a cached pending fact was read from this user's delivery entry.
  const facts = new Map<string, PendingFact>();
  const unknown = new Map<string, string[]>(); // user → delivery ids
  for (const [id, i] of first) {
    const { userId, messageId } = batch[i]!;
    const fact = cache.pendingFact(userId, messageId);
    if (fact) facts.set(id, fact);
    else addTo(unknown, userId, id);
  }
  // One lookup per user, filtered by recipient: MongoDB answers `_id: {$in}` from the _id index, and
  // FerretDB v1 only narrows by `to` (it scans the whole collection for `_id: {$in}` alone).
  const found = await Promise.all(
    [...unknown].map(([userId, ids]) =>
      collections.deliveries.find({ to: userId, _id: { $in: ids } }, { projection: { _id: 1, to: 1, from: 1, ts: 1, status: 1 } }).toArray(),
    ),
  );
  for (const doc of found.flat()) {
    const request = batch[first.get(doc._id)!]!;
    if (doc.to !== request.userId) continue;
    if (doc.status === 'delivered') cache.noteDelivered(request.userId, [request.messageId]);
    else facts.set(doc._id, { from: doc.from, ts: Number(doc.ts) });
  }

  // 2. The marks.
  const token = context.nextToken();
  const deliveredAt = Date.now();
  const receipts: ReceiptDoc[] = [...facts].map(([id, fact]) => {
    const request = batch[first.get(id)!]!;
    return { _id: id, messageId: request.messageId, to: request.userId, from: fact.from, ts: fact.ts, deliveredAt, markedBy: token };
  });
  const { inserted, existing, failed } = await insertReceipts(collections, receipts);

  // 3. Replay stops listing them. Idempotent, so retried; if it still fails the batch fails, and the
  // next confirmation (or replayed message confirmed again) completes it through `existing`.
  const settled = [...inserted, ...existing];
  if (settled.length > 0) {
    const byUser = new Map<string, string[]>();
    for (const id of settled) addTo(byUser, batch[first.get(id)!]!.userId, id);
    const ops: AnyBulkWriteOperation<DeliveryDoc>[] = [...byUser].map(([userId, ids]) => ({
      updateMany: {
        filter: { to: userId, status: 'pending', _id: { $in: ids } },
        update: { $set: { status: 'delivered', deliveredAt }, $inc: { marks: 1 } },
      },
    }));
    for (let attempt = 1; ; attempt++) {
      try {
        await collections.deliveries.bulkWrite(ops, { ordered: false });
        break;
      } catch (error) {
        if (attempt >= STATUS_ATTEMPTS) throw error;
      }
    }
  }

  for (const id of settled) {
    const request = batch[first.get(id)!]!;
    cache.noteDelivered(request.userId, [request.messageId]);
  }
  return batch.map((request, i) => {
    const id = deliveryId(request.userId, request.messageId);
    if (first.get(id) !== i) return null;
    const error = failed.get(id);
    if (error) return error;
    const fact = inserted.has(id) ? facts.get(id) : undefined;
    return fact ? { messageId: request.messageId, from: fact.from, deliveredAt, ts: fact.ts } : null;
  });
}

/** Groups delivery ids by user, in place (a batch holds up to DB_BATCH_MAX_OPS of them). */
function addTo(byUser: Map<string, string[]>, userId: string, id: string): void {
  const ids = byUser.get(userId);
  if (ids) ids.push(id);
  else byUser.set(userId, [id]);
}

async function insertReceipts(collections: Collections, receipts: ReceiptDoc[]) {
  const inserted = new Set<string>();
  const existing = new Set<string>();
  const failed = new Map<string, Error>();
  const errors = await insertMany(collections.receipts, receipts, false);
  for (const [index, writeError] of errors) {
    const id = receipts[index]!._id;
    if (writeError.code === DUPLICATE_KEY) existing.add(id);
    else failed.set(id, new StoreUnavailableError(`receipt write failed: ${writeError.errmsg ?? writeError.code}`));
  }
  for (const receipt of receipts) if (!existing.has(receipt._id) && !failed.has(receipt._id)) inserted.add(receipt._id);
  return { inserted, existing, failed };
}
