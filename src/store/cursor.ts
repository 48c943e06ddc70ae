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
  if (seqs.length === 1) return advanceOne(cursor, seqs[0]!);
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
 * One seq: every message stored and every confirmation of a client reading in order, which meet a
 * cursor with no gap (no Set, no sort: this runs for each message four times, the sender's user and
 * device at persist, the recipient's at confirm, and its garbage was 6 % of the server's). A gappy
 * cursor (a client confirming out of order, or every other message) is searched and copied once,
 * O(above) without hashing or sorting, rather than rebuilt through a Set and a sort.
 */
function advanceOne(cursor: Cursor, seq: number): { cursor: Cursor; added: number[] } {
  if (!Number.isSafeInteger(seq) || seq <= cursor.upTo) return { cursor, added: [] };
  const { upTo, above } = cursor;
  if (above.length === 0) {
    const next = seq === upTo + 1 ? { upTo: seq, above: EMPTY_CURSOR.above } : { upTo, above: [seq] };
    return { cursor: next, added: [seq] };
  }
  const at = lowerBound(above, seq);
  if (above[at] === seq) return { cursor, added: [] };
  // The gap just above the watermark closes: the run of seqs at the start of `above` joins it.
  if (seq === upTo + 1) return { cursor: settle(seq, above), added: [seq] };
  const next = above.slice();
  next.splice(at, 0, seq);
  return { cursor: settle(upTo, next), added: [seq] };
}

/** Everything up to `seq`: returns the new cursor and how many seqs it newly covers (not listed: it may be many). */
export function advanceTo(cursor: Cursor, seq: number): { cursor: Cursor; from: number; to: number } | undefined {
  if (seq <= cursor.upTo) return undefined;
  const above = new Set(cursor.above.filter((s) => s > seq));
  return { cursor: normalize(seq, above), from: cursor.upTo, to: seq };
}

function normalize(upTo: number, above: Set<number>): Cursor {
  return settle(upTo, [...above].sort((x, y) => x - y));
}

/**
 * The cursor at `upTo` with the ascending seqs `sorted` (each above `upTo`) in normal form: the
 * watermark raised through the run of seqs that continues it, and at most MAX_ABOVE left above.
 * `sorted` itself becomes the cursor's when nothing is taken off it (cursors are never changed in place).
 */
function settle(upTo: number, sorted: readonly number[]): Cursor {
  let i = 0;
  while (i < sorted.length && sorted[i] === upTo + 1) upTo = sorted[i++]!;
  // Bounded: a client that confirms only every other message must not grow a cursor without end.
  // Closing the oldest gap means those seqs count as confirmed for this cursor (they were replayed
  // MAX_ABOVE times over and never confirmed; the history API still has them).
  while (sorted.length - i > MAX_ABOVE) {
    upTo = sorted[i++]!;
    while (i < sorted.length && sorted[i] === upTo + 1) upTo = sorted[i++]!;
  }
  return { upTo, above: i === sorted.length ? EMPTY_CURSOR.above : i === 0 ? sorted : sorted.slice(i) };
}

function binaryHas(sorted: readonly number[], value: number): boolean {
  return sorted[lowerBound(sorted, value)] === value;
}

/** The index of the first element ≥ `value` in an ascending array (its length when there is none). */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Everything either cursor covers: cursors only grow, so two writers' changes merge by union. */
export function union(a: Cursor, b: Cursor): Cursor {
  const upTo = Math.max(a.upTo, b.upTo);
  return normalize(upTo, new Set([...a.above, ...b.above].filter((seq) => seq > upTo)));
}

/** The cursor of a member who joined at `joinSeq`: nothing before joining is theirs to be delivered. */
export function atLeast(cursor: Cursor, joinSeq: number): Cursor {
  if (cursor.upTo >= joinSeq) return cursor;
  return normalize(joinSeq, new Set(cursor.above.filter((seq) => seq > joinSeq)));
}

/**
 * A receipt's `deliveredSeq` from a member's user cursor: every seq up to it is covered, with no gap
 * below (a tick shown up to it is true), and at least the seq the member joined at.
 */
export function deliveredWatermark(cursor: Cursor, joinSeq: number): number {
  return atLeast(cursor, joinSeq).upTo;
}

/** The highest seq a cursor covers (gaps below it or not): the push check's "a later message was delivered". */
export function highestCovered(cursor: Cursor): number {
  return cursor.above.length > 0 ? cursor.above[cursor.above.length - 1]! : cursor.upTo;
}
