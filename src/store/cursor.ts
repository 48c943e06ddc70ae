// Delivery cursors: "every seq ≤ upTo, plus these above it". Confirmations may arrive out of order
// (per-id `delivered` frames), so seqs above the watermark are kept until the gap below them closes.
// Pure functions, shared by every store and by the per-connection session.
import type { Cursor } from './store.js';

export const EMPTY_CURSOR: Cursor = Object.freeze({ upTo: 0, above: Object.freeze([]) as readonly number[] });

/** Most seqs a cursor keeps above its watermark; past it the oldest gap is closed (docs/store.md). */
export const MAX_ABOVE = 1024;

export function covers(cursor: Cursor, seq: number): boolean {
  return seq <= cursor.upTo || (cursor.above.length > 0 && binaryHas(cursor.above, seq));
}

/**
 * Adds seqs (any order, duplicates allowed) and returns the new cursor and the seqs it newly covers,
 * ascending. (A sender's own messages are added by the store at persist time, so the watermark can
 * pass them.)
 */
export function advance(cursor: Cursor, seqs: readonly number[]): { cursor: Cursor; added: number[] } {
  if (seqs.length === 1 && cursor.above.length === 0) return advanceOne(cursor, seqs[0]!);
  const added: number[] = [];
  const above = new Set(cursor.above);
  for (const seq of seqs) {
    if (!Number.isSafeInteger(seq) || seq <= cursor.upTo || above.has(seq)) continue;
    above.add(seq);
    added.push(seq);
  }
  if (added.length === 0) return { cursor, added };
  added.sort((x, y) => x - y);
  return { cursor: normalize(cursor.upTo, above), added };
}

/**
 * The common case, one seq on a cursor with no gap: every message stored and every confirmation of a
 * client reading in order. No Set, no sort: this runs for each message four times (the sender's user
 * and device at persist, the recipient's at confirm), and its garbage was 6 % of the server's.
 */
function advanceOne(cursor: Cursor, seq: number): { cursor: Cursor; added: number[] } {
  if (!Number.isSafeInteger(seq) || seq <= cursor.upTo) return { cursor, added: [] };
  const next = seq === cursor.upTo + 1 ? { upTo: seq, above: EMPTY_CURSOR.above } : { upTo: cursor.upTo, above: [seq] };
  return { cursor: next, added: [seq] };
}

/** Everything up to `seq`: returns the new cursor and how many seqs it newly covers (not listed: it may be many). */
export function advanceTo(cursor: Cursor, seq: number): { cursor: Cursor; from: number; to: number } | undefined {
  if (seq <= cursor.upTo) return undefined;
  const above = new Set(cursor.above.filter((s) => s > seq));
  return { cursor: normalize(seq, above), from: cursor.upTo, to: seq };
}

function normalize(upTo: number, above: Set<number>): Cursor {
  let next = upTo;
  while (above.delete(next + 1)) next++;
  const rest = [...above].sort((x, y) => x - y);
  // Bounded: a client that confirms only every other message must not grow a cursor without end.
  // Closing the oldest gap means those seqs count as confirmed for this cursor (they were replayed
  // MAX_ABOVE times over and never confirmed; the history API still has them).
  while (rest.length > MAX_ABOVE) {
    next = rest.shift()!;
    while (rest.length > 0 && rest[0] === next + 1) next = rest.shift()!;
  }
  return { upTo: next, above: rest };
}

function binaryHas(sorted: readonly number[], value: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === value) return true;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** The cursor of a member who joined at `joinSeq`: nothing before joining is theirs to be delivered. */
export function atLeast(cursor: Cursor, joinSeq: number): Cursor {
  if (cursor.upTo >= joinSeq) return cursor;
  return normalize(joinSeq, new Set(cursor.above.filter((seq) => seq > joinSeq)));
}

/** The highest seq a cursor covers: a receipt's `deliveredSeq`. */
export function highestCovered(cursor: Cursor): number {
  return cursor.above.length > 0 ? cursor.above[cursor.above.length - 1]! : cursor.upTo;
}
