// One delivery-marking batch: a conditional update per entry (`status: pending` → `delivered`, `$inc
// marks`), unordered. Only one confirmation can win the condition, on any instance, so a delivery is
// marked exactly once. A bulk write reports counts, not which operations changed a document: when
// every operation changed one, all are ours; otherwise the entries stamped with this batch's token are.
import type { AnyBulkWriteOperation } from 'mongodb';
import type { DeliveryCursorCache } from '../cursor-cache.js';
import type { DeliveryMark } from '../store.js';
import { deliveryId, type Collections, type DeliveryDoc } from './documents.js';
import { bulkWrite } from './persist-batch.js';

export interface MarkRequest {
  /** The confirming user: only entries addressed to them can match. */
  readonly userId: string;
  readonly messageId: string;
}

export interface MarkBatchContext {
  readonly collections: Collections;
  readonly cache: DeliveryCursorCache;
  nextToken(): string;
}

/** One result per request: the mark made now, or null (not pending, not theirs, unknown, or a repeat in this batch). */
export async function writeMarkBatch(context: MarkBatchContext, batch: readonly MarkRequest[]): Promise<Array<DeliveryMark | null>> {
  const { collections, cache } = context;
  const firstIndex = new Map<string, number>();
  batch.forEach((request, i) => {
    const id = deliveryId(request.userId, request.messageId);
    if (!firstIndex.has(id)) firstIndex.set(id, i);
  });
  const ids = [...firstIndex.keys()];
  const token = context.nextToken();
  const deliveredAt = Date.now();
  const ops: AnyBulkWriteOperation<DeliveryDoc>[] = [...firstIndex.values()].map((i) => {
    const { userId, messageId } = batch[i]!;
    return {
      updateOne: {
        filter: { _id: deliveryId(userId, messageId), to: userId, status: 'pending' },
        update: { $set: { status: 'delivered', deliveredAt, markedBy: token }, $inc: { marks: 1 } },
      },
    };
  });
  const { result, stoppedEarly } = await bulkWrite(collections.deliveries, ops, false);

  const marked = new Map<string, { from: string; ts: number }>();
  const allChanged = !stoppedEarly && result?.modifiedCount === ops.length;
  const facts = allChanged ? [...firstIndex.values()].map((i) => cache.pendingFact(batch[i]!.userId, batch[i]!.messageId)) : [];
  if (allChanged && facts.every((fact) => fact !== undefined)) {
    ids.forEach((id, k) => marked.set(id, facts[k]!));
  } else if ((result?.modifiedCount ?? 1) > 0) {
    const docs = await collections.deliveries
      .find({ _id: { $in: ids }, markedBy: token }, { projection: { _id: 1, from: 1, ts: 1 } })
      .toArray();
    for (const doc of docs) marked.set(doc._id, { from: doc.from, ts: Number(doc.ts) });
  }

  const results = batch.map((request, i): DeliveryMark | null => {
    const id = deliveryId(request.userId, request.messageId);
    const fact = firstIndex.get(id) === i ? marked.get(id) : undefined;
    return fact ? { messageId: request.messageId, from: fact.from, deliveredAt, ts: fact.ts } : null;
  });
  for (const request of batch) {
    if (marked.has(deliveryId(request.userId, request.messageId))) cache.noteDelivered(request.userId, [request.messageId]);
  }
  return results;
}
