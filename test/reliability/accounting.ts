// The final accounting of a fault test, read straight from MongoDB (no server cache in between) and
// from what every client recorded: the figures docs/reliability.md reports.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { MongoClient } from 'mongodb';
import type { Load } from './load-client.js';

export interface Figures {
  /** Distinct messages the senders created (every one of them was retried until acked). */
  sent: number;
  acked: number;
  /** The issue's "lost": acked messages missing from the store or never received (the sum of the next two). */
  lost: number;
  /** Acked, but no message document. */
  lostInStore: number;
  /** Acked, but never received by its recipient. */
  lostToRecipient: number;
  /** Message documents that are not exactly a sent message (the unique _id makes a second copy impossible). */
  duplicatedInStore: number;
  /** Messages with more than one delivery mark (receipt), plus messages whose sender got more than one DELIVERED ack. */
  deliveredMarkedTwice: number;
  /** Messages without exactly one delivery mark at the end (every recipient confirmed everything). */
  notConfirmedOnce: number;
  /** Frames a client should never have seen (another user's message, altered content, a changed ts…). */
  violations: number;
  /** Message frames received more than once (allowed until confirmed: the at-least-once half). */
  redeliveries: number;
  resends: number;
  duplicateAcks: number;
  unavailableAnswers: number;
}

export async function account(load: Load, dbUri: string): Promise<{ figures: Figures; details: string[] }> {
  const client = new MongoClient(dbUri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  try {
    const db = client.db();
    const messages = await db.collection<{ _id: string; from: string; to: string; body: string }>('messages').find({}).toArray();
    // The store's delivery marks (docs/store.md): one receipt per (recipient, message), unique by _id.
    const receipts = await db.collection<{ _id: string; messageId: string; userId: string }>('receipts').find({}).toArray();
    const details: string[] = [];
    const acked = new Set(load.senders.flatMap((sender) => [...sender.acked.keys()]));
    const byId = new Map(messages.map((doc) => [doc._id, doc]));

    /** Acked ids that `has` does not know, each named in the details. */
    const lostFrom = (has: (messageId: string) => boolean, what: string) => {
      let lost = 0;
      for (const messageId of acked) {
        if (has(messageId)) continue;
        lost++;
        details.push(`acked but ${what}: ${messageId}`);
      }
      return lost;
    };
    const lostInStore = lostFrom((id) => byId.has(id), 'not stored');
    let strayOrAltered = 0;
    for (const doc of messages) {
      const sent = load.registry.get(doc._id);
      if (!sent || sent.from !== doc.from || sent.to !== doc.to || sent.body !== doc.body) {
        strayOrAltered++;
        details.push(`stored message is not what was sent: ${JSON.stringify(doc)}`);
      }
    }
    // Direct messages only here: one recipient each, so at most one receipt per message.
    const receiptsPerMessage = new Map<string, number>();
    for (const receipt of receipts) receiptsPerMessage.set(receipt.messageId, (receiptsPerMessage.get(receipt.messageId) ?? 0) + 1);

    const received = new Map<string, number>();
    for (const recipient of load.recipients) for (const [id, n] of recipient.received) received.set(id, (received.get(id) ?? 0) + n);
    const lostToRecipient = lostFrom((id) => received.has(id), 'never received');

    let markedTwice = 0;
    let notConfirmedOnce = 0;
    for (const doc of messages) {
      const marks = receiptsPerMessage.get(doc._id) ?? 0;
      if (marks > 1) {
        markedTwice++;
        details.push(`marked ${marks} times: ${doc._id}`);
      }
      if (marks !== 1) {
        notConfirmedOnce++;
        if (marks === 0) details.push(`not confirmed once at the end: ${doc._id} (to ${doc.to})`);
      }
    }
    for (const sender of load.senders) {
      for (const [messageId, n] of sender.deliveredAcks) {
        if (n > 1) {
          markedTwice++;
          details.push(`${n} DELIVERED acks for ${messageId}`);
        }
      }
    }
    const violations = load.violations();
    details.push(...violations);

    const figures: Figures = {
      sent: load.registry.size,
      acked: acked.size,
      lost: lostInStore + lostToRecipient,
      lostInStore,
      lostToRecipient,
      duplicatedInStore: strayOrAltered,
      deliveredMarkedTwice: markedTwice,
      notConfirmedOnce,
      violations: violations.length,
      redeliveries: [...received.values()].reduce((sum, n) => sum + n - 1, 0),
      resends: load.senders.reduce((sum, s) => sum + s.resends, 0),
      duplicateAcks: load.senders.reduce((sum, s) => sum + s.duplicateAcks, 0),
      unavailableAnswers: load.senders.reduce((sum, s) => sum + s.unavailable, 0),
    };
    return { figures, details };
  } finally {
    await client.close();
  }
}

export function formatFigures(name: string, extra: Record<string, number | string>, figures: Figures): string {
  const all: Record<string, number | string> = { ...extra, ...figures };
  return `${name}: ${Object.entries(all).map(([key, value]) => `${key}=${value}`).join(' ')}`;
}

/** Prints the figures line (stdout and the test's diagnostics) and the first details of what went wrong. */
export function reportFigures(t: TestContext, name: string, extra: Record<string, number | string>, result: { figures: Figures; details: string[] }): void {
  const line = formatFigures(name, extra, result.figures);
  console.log(line);
  t.diagnostic(line);
  if (result.details.length > 0) console.log(result.details.slice(0, 40).join('\n'));
}

/** The promise every fault test proves: everything acked, nothing lost, stored twice, marked twice or leaked. */
export function assertNothingLost(figures: Figures): void {
  assert.ok(figures.acked > 0 && figures.acked === figures.sent, `every message was eventually acked (${figures.acked}/${figures.sent})`);
  assert.equal(figures.lost, 0, 'lost');
  assert.equal(figures.lostInStore, 0, 'lost (acked, not stored)');
  assert.equal(figures.lostToRecipient, 0, 'lost (acked, never received)');
  assert.equal(figures.duplicatedInStore, 0, 'duplicated in store');
  assert.equal(figures.deliveredMarkedTwice, 0, 'delivered-marked twice');
  assert.equal(figures.notConfirmedOnce, 0, 'confirmed exactly once');
  assert.equal(figures.violations, 0, 'frames a client should never see');
}
