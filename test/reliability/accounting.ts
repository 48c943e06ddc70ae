// The final accounting of a fault test, read straight from MongoDB (no server cache in between) and
// from what every client recorded: the figures docs/reliability.md reports.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { MongoClient } from 'mongodb';
import type { Load } from './load-client.js';
import { readStoreRows, resendEvidence } from './store-rows.js';

/**
 * A message received again this long after the store marked it delivered is a resend after the
 * confirmation (invariant 2), not the in-flight race of a replay read just before the mark.
 */
export const RESEND_AFTER_CONFIRMATION_MARGIN_MS = 1000;

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
  /** Message documents that are not exactly a sent message, plus delivery entries beyond one per message. */
  duplicatedInStore: number;
  /** Delivery entries with marks > 1, plus messages whose sender got more than one DELIVERED ack. */
  deliveredMarkedTwice: number;
  /** Delivery entries not delivered with marks = 1 at the end (every recipient confirmed everything). */
  notConfirmedOnce: number;
  /** Frames a client should never have seen (another user's message, altered content, a changed ts…). */
  violations: number;
  /** Message frames received more than once (allowed until confirmed: the at-least-once half). */
  redeliveries: number;
  resends: number;
  duplicateAcks: number;
  unavailableAnswers: number;
  /** Message frames received more than RESEND_AFTER_CONFIRMATION_MARGIN_MS after the store marked them delivered. */
  resentAfterConfirmation: number;
  /**
   * Of those not counted above: sent again after a mark whose confirmation never finished, as the
   * recipient saw it: it was answered `unavailable` within UNFINISHED_WINDOW_MS after the mark (the store
   * went away between the mark and the cursor), or its server vanished (1006) within that window and
   * before the sender had the message's DELIVERED ack (SIGKILL in the same gap: the ack is sent only
   * once the receipts and the cursors are written, so an ack before the cut proves the cursor was
   * there). The protocol allows it: a confirmation is final only once it is recorded whole, and the
   * client was told "not recorded" or nothing at all.
   * Also: received on a newer connection than the one that sent the confirmation, opened before the
   * sender had the DELIVERED ack (so before the confirmation was recorded whole). That connection's
   * replay may have read the cursor first: on another instance nothing tells it a write is in flight
   * (on the same one, the replay waits for it: src/chat/confirmations-in-flight.ts).
   */
  resentAfterUnfinishedConfirmation: number;
}

/**
 * How long after a mark a refusal, or a cut, can still be that same confirmation's: the op timeout,
 * with room. A fixed 2 s for cuts was once enough, until a loaded CI machine's FerretDB wrote a
 * batch's cursors more than 2 s after its receipts (one resend 2,043 ms after its mark, its server
 * killed in between): what a batch takes there has no useful bound below the op timeout, so a cut is
 * told apart by the DELIVERED ack instead.
 */
const UNFINISHED_WINDOW_MS = 10_000;

export async function account(load: Load, dbUri: string): Promise<{ figures: Figures; details: string[] }> {
  const client = new MongoClient(dbUri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  try {
    const db = client.db();
    // Acked before the store is read: a load still running acks more meanwhile, which must not count as missing.
    const acked = new Set(load.senders.flatMap((sender) => [...sender.acked.keys()]));
    const { messages, deliveries } = await readStoreRows(db);
    const details: string[] = [];
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
    const entriesPerMessage = new Map<string, number>();
    for (const entry of deliveries) entriesPerMessage.set(entry.messageId, (entriesPerMessage.get(entry.messageId) ?? 0) + 1);
    let extraEntries = 0;
    for (const [messageId, n] of entriesPerMessage) {
      if (n > 1) {
        extraEntries += n - 1;
        details.push(`${n} delivery entries for ${messageId}`);
      }
    }
    for (const doc of messages) if (!entriesPerMessage.has(doc._id)) details.push(`message without a delivery entry: ${doc._id}`);

    const received = new Map<string, number>();
    for (const recipient of load.recipients) for (const [id, n] of recipient.received) received.set(id, (received.get(id) ?? 0) + n);
    const lostToRecipient = lostFrom((id) => received.has(id), 'never received');

    let markedTwice = 0;
    let notConfirmedOnce = 0;
    for (const entry of deliveries) {
      if (entry.marks > 1) {
        markedTwice++;
        details.push(`marked ${entry.marks} times: ${entry._id}`);
      }
      if (entry.status !== 'delivered' || entry.marks !== 1) {
        notConfirmedOnce++;
        if (entry.marks <= 1) details.push(`not confirmed once at the end: ${JSON.stringify(entry)}`);
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

    const markedAt = new Map(deliveries.filter((entry) => entry.deliveredAt !== undefined).map((entry) => [entry.messageId, entry.deliveredAt!]));
    const deliveredAckAt = new Map<string, number>();
    for (const sender of load.senders) for (const [messageId, at] of sender.deliveredAckAt) deliveredAckAt.set(messageId, Math.min(at, deliveredAckAt.get(messageId) ?? at));
    let resentAfterConfirmation = 0;
    let resentAfterUnfinishedConfirmation = 0;
    for (const recipient of load.recipients) {
      for (const [messageId, times] of recipient.receivedAt) {
        const marked = markedAt.get(messageId);
        if (marked === undefined) continue;
        const late = times.filter((t) => t > marked + RESEND_AFTER_CONFIRMATION_MARGIN_MS);
        const ackedAt = deliveredAckAt.get(messageId) ?? Infinity;
        const confirmedOn = recipient.confirmedOn.get(messageId);
        const receivedOn = recipient.receivedOn.get(messageId) ?? [];
        const replayedBeforeRecorded = times.every(
          (t, i) => t <= marked + RESEND_AFTER_CONFIRMATION_MARGIN_MS || (confirmedOn !== undefined && receivedOn[i]! > confirmedOn && recipient.openedAt[receivedOn[i]!]! < ackedAt),
        );
        const unfinished =
          recipient.refusedConfirmationsAt.some((t) => t >= marked && t <= marked + UNFINISHED_WINDOW_MS) ||
          recipient.cutAt.some((t) => t >= marked && t <= marked + UNFINISHED_WINDOW_MS && t < ackedAt) ||
          replayedBeforeRecorded;
        if (late.length > 0 && unfinished) {
          resentAfterUnfinishedConfirmation += late.length;
          continue;
        }
        resentAfterConfirmation += late.length;
        if (late.length > 0) {
          // What a reader needs to tell a race from a bug: the recipient's closes near the mark (its own
          // included: a confirmation still being written when it left), and when the sender had the DELIVERED.
          const closes = recipient.closedAt.filter((t) => t >= marked - UNFINISHED_WINDOW_MS && t <= marked + UNFINISHED_WINDOW_MS).map((t) => t - marked);
          const ack = ackedAt === Infinity ? 'never' : `${ackedAt - marked} ms`;
          const connections = receivedOn.map((n) => `#${n} opened at ${(recipient.openedAt[n] ?? NaN) - marked} ms`).join(', ');
          details.push(
            `${messageId} sent to ${recipient.userId} again ${late.map((t) => t - marked).join('/')} ms after it was marked delivered (recipient closes at ${closes.join('/') || 'none'} ms from the mark; ` +
              `sender's DELIVERED at ${ack}; received on ${connections}; confirmed on #${confirmedOn ?? 'none'}; ${await resendEvidence(db, messageId, recipient.userId)})`,
          );
        }
      }
    }

    const figures: Figures = {
      sent: load.registry.size,
      acked: acked.size,
      lost: lostInStore + lostToRecipient,
      lostInStore,
      lostToRecipient,
      duplicatedInStore: strayOrAltered + extraEntries,
      deliveredMarkedTwice: markedTwice,
      notConfirmedOnce,
      violations: violations.length,
      redeliveries: [...received.values()].reduce((sum, n) => sum + n - 1, 0),
      resends: load.senders.reduce((sum, s) => sum + s.resends, 0),
      duplicateAcks: load.senders.reduce((sum, s) => sum + s.duplicateAcks, 0),
      unavailableAnswers: load.senders.reduce((sum, s) => sum + s.unavailable, 0),
      resentAfterConfirmation,
      resentAfterUnfinishedConfirmation,
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
