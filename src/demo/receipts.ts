// What the members of each conversation have received and read. `receipt` frames are live only, so a
// conversation's watermarks are read from `GET /api/conversations/:id` (its `receipts`: every member's,
// in direct chats and groups of up to RECEIPTS_MAX_MEMBERS) when it opens and after each reconnect;
// receipts move them in between. Any browser, after a reload or a day away, shows the same ticks.
import { account } from './api.js';

interface Marks {
  d: number;
  r: number;
}

let all: Record<string, Record<string, Marks>> = {};

export function clearReceipts(): void {
  all = {};
}

/** A conversation's receipts from the API; on an error (or a group too large for them) the live ones only. */
export async function fetchReceipts(conversationId: string): Promise<void> {
  try {
    const { ok, data } = await account(`/api/conversations/${encodeURIComponent(conversationId)}`);
    const receipts = (ok && data.receipts) as { userId: string; deliveredSeq: number; readSeq: number }[] | undefined;
    for (const r of receipts || []) recordReceipt(conversationId, r.userId, r.deliveredSeq, r.readSeq);
  } catch {
    // The server cannot be reached: live receipts only, until the next reconnect reads them again.
  }
}

/** Records a receipt; true when it moved a watermark. Watermarks never move back. */
export function recordReceipt(conversationId: string, userId: string, deliveredSeq = 0, readSeq = 0): boolean {
  const members = (all[conversationId] ??= {});
  const marks = (members[userId] ??= { d: 0, r: 0 });
  const d = Math.max(marks.d, deliveredSeq, readSeq);
  const r = Math.max(marks.r, readSeq);
  if (d === marks.d && r === marks.r) return false;
  marks.d = d;
  marks.r = r;
  return true;
}

/** The lowest watermarks over `others`: seq ≤ read is read by all of them, seq ≤ delivered delivered to all. */
export function lowestMarks(conversationId: string, others: readonly string[]): { delivered: number; read: number } {
  if (others.length === 0) return { delivered: 0, read: 0 };
  const members = all[conversationId] ?? {};
  let delivered = Infinity;
  let read = Infinity;
  for (const userId of others) {
    delivered = Math.min(delivered, members[userId]?.d ?? 0);
    read = Math.min(read, members[userId]?.r ?? 0);
  }
  return { delivered, read };
}
