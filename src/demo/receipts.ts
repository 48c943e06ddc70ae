// What the members of each conversation have received and read, from `receipt` frames. The server sends
// receipts live only and its API gives a caller no other member's watermarks, so after a reload the
// ticks would fall back to ✓: the page keeps what it learned in localStorage (per signed-in user,
// bounded) and reads it back on load. A browser that never saw the receipt shows ✓ until the next one.

interface Marks {
  d: number;
  r: number;
}

const MAX_CONVERSATIONS = 200;
let key = '';
let all: Record<string, Record<string, Marks>> = {};

export function loadReceipts(userId: string): void {
  key = `demo.receipts.${userId}`;
  try {
    all = JSON.parse(localStorage.getItem(key) ?? '{}') as typeof all;
  } catch {
    all = {};
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
  // Most recently touched last, so the one dropped past the bound is the least recently touched.
  delete all[conversationId];
  all[conversationId] = members;
  const ids = Object.keys(all);
  if (ids.length > MAX_CONVERSATIONS) delete all[ids[0]!];
  try {
    localStorage.setItem(key, JSON.stringify(all));
  } catch {
    // Storage full or disabled: the ticks just do not survive a reload.
  }
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
