// Delivery cursors: "every seq ≤ upTo, plus these runs above it". Confirmations may arrive out of order
// (per-id `delivered` frames), and the server itself covers seqs a device will never confirm (its own
// sends, edit and delete events a device that did not ask for them is not sent), so what lies above the
// watermark is kept until the gap below it closes: as runs of consecutive seqs, so that a thousand of
// the server's own in a row cost one run, not a thousand entries.
// Pure functions, shared by every store and by the per-connection session.
import type { Cursor } from './store.js';

export const EMPTY_CURSOR: Cursor = Object.freeze({ upTo: 0, runs: Object.freeze([]) as readonly number[] });

/**
 * Most gaps a cursor keeps above its watermark (runs, each after one gap); past it the oldest gap is
 * closed (docs/store.md). It bounds a cursor's size: a client confirming only every other message.
 * Before 2026-12-07 it bounded seqs, and 1,025 edits of one message (each covered for a device that
 * is not sent events) or as many of a user's own sends above one message the device had not confirmed
 * closed that gap: the message counted as delivered without ever being confirmed.
 */
export const MAX_GAPS = 1024;

export function covers(cursor: Cursor, seq: number): boolean {
  return seq <= cursor.upTo || (cursor.runs.length > 0 && runIndex(cursor.runs, seq) >= 0);
}

/**
 * Adds seqs (any order, duplicates allowed) and returns the new cursor and the seqs it newly covers,
 * ascending. (A sender's own messages are added by the store at persist time, so the watermark can
 * pass them.)
 */
export function advance(cursor: Cursor, seqs: readonly number[]): { cursor: Cursor; added: number[] } {
  if (seqs.length === 1) return advanceOne(cursor, seqs[0]!);
  const fresh = new Set<number>();
  for (const seq of seqs) if (Number.isSafeInteger(seq) && !covers(cursor, seq)) fresh.add(seq);
  if (fresh.size === 0) return { cursor, added: [] };
  const added = [...fresh].sort((x, y) => x - y);
  const singles: number[] = [];
  for (const seq of added) singles.push(seq, seq);
  return { cursor: settle(cursor.upTo, mergeRuns(cursor.runs, singles)), added };
}

/**
 * One seq: every message stored and every confirmation of a client reading in order, which meet a
 * cursor with no gap (no Set, no sort: this runs for each message four times, the sender's user and
 * device at persist, the recipient's at confirm, and its garbage was 6 % of the server's). A gappy
 * cursor is searched and its runs copied once.
 */
function advanceOne(cursor: Cursor, seq: number): { cursor: Cursor; added: number[] } {
  if (!Number.isSafeInteger(seq) || seq <= cursor.upTo) return { cursor, added: [] };
  const { upTo, runs } = cursor;
  if (runs.length === 0) {
    const next = seq === upTo + 1 ? { upTo: seq, runs: EMPTY_CURSOR.runs } : { upTo, runs: [seq, seq] };
    return { cursor: next, added: [seq] };
  }
  if (runIndex(runs, seq) >= 0) return { cursor, added: [] };
  return { cursor: settle(upTo, mergeRuns(runs, [seq, seq])), added: [seq] };
}

/** Everything up to `seq`: returns the new cursor and how many seqs it newly covers (not listed: it may be many). */
export function advanceTo(cursor: Cursor, seq: number): { cursor: Cursor; from: number; to: number } | undefined {
  if (seq <= cursor.upTo) return undefined;
  return { cursor: settle(seq, cursor.runs), from: cursor.upTo, to: seq };
}

/** advanceTo, listing the seqs it newly covers (those not already covered above the old watermark). */
export function advanceToListing(cursor: Cursor, upTo: number): { cursor: Cursor; added: number[] } {
  const moved = advanceTo(cursor, upTo);
  if (!moved) return { cursor, added: [] };
  const added: number[] = [];
  for (let seq = moved.from + 1; seq <= moved.to; seq++) if (!covers(cursor, seq)) added.push(seq);
  return { cursor: moved.cursor, added };
}

/**
 * The cursor at `upTo` with the ascending, disjoint, non-adjacent `runs` in normal form: runs at or
 * below the watermark dropped, the watermark raised through a run that continues it, and at most
 * MAX_GAPS runs left above. `runs` itself becomes the cursor's when nothing is taken off it (cursors
 * are never changed in place).
 */
function settle(upTo: number, runs: readonly number[]): Cursor {
  let i = 0;
  while (i < runs.length && runs[i]! <= upTo + 1) {
    upTo = Math.max(upTo, runs[i + 1]!);
    i += 2;
  }
  // Bounded: a client that confirms only every other message must not grow a cursor without end.
  // Closing the oldest gap means its seqs count as confirmed for this cursor (they were replayed
  // MAX_GAPS times over and never confirmed; the history API still has them).
  while ((runs.length - i) / 2 > MAX_GAPS) {
    upTo = runs[i + 1]!;
    i += 2;
  }
  return { upTo, runs: i === runs.length ? EMPTY_CURSOR.runs : i === 0 ? runs : runs.slice(i) };
}

/** Two ascending run lists merged into one: overlapping and adjacent runs joined. */
function mergeRuns(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let from: number;
    let to: number;
    if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
      from = a[i]!;
      to = a[i + 1]!;
      i += 2;
    } else {
      from = b[j]!;
      to = b[j + 1]!;
      j += 2;
    }
    const last = out.length - 1;
    if (last > 0 && from <= out[last]! + 1) out[last] = Math.max(out[last]!, to);
    else out.push(from, to);
  }
  return out;
}

/** The index of the run (its `from`) holding `seq`, or -1. */
function runIndex(runs: readonly number[], seq: number): number {
  let lo = 0;
  let hi = runs.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (runs[2 * mid + 1]! < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo < runs.length / 2 && runs[2 * lo]! <= seq ? 2 * lo : -1;
}

/** Everything either cursor covers: cursors only grow, so two writers' changes merge by union. */
export function union(a: Cursor, b: Cursor): Cursor {
  return settle(Math.max(a.upTo, b.upTo), mergeRuns(a.runs, b.runs));
}

/** The cursor of a member who joined at `joinSeq`: nothing before joining is theirs to be delivered. */
export function atLeast(cursor: Cursor, joinSeq: number): Cursor {
  if (cursor.upTo >= joinSeq) return cursor;
  return settle(joinSeq, cursor.runs);
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
  return cursor.runs.length > 0 ? cursor.runs[cursor.runs.length - 1]! : cursor.upTo;
}

/** A cursor's runs from seqs listed one by one (the stored form before runs): ascending, any gaps. */
export function runsOf(seqs: readonly number[]): number[] {
  const sorted = [...new Set(seqs)].filter(Number.isSafeInteger).sort((x, y) => x - y);
  const runs: number[] = [];
  for (const seq of sorted) {
    if (runs.length > 0 && seq === runs[runs.length - 1]! + 1) runs[runs.length - 1] = seq;
    else runs.push(seq, seq);
  }
  return runs;
}

/** The seqs of `runs`, one by one, at most `max` (the stored form an instance from before runs reads). */
export function seqsOf(runs: readonly number[], max: number): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < runs.length && seqs.length < max; i += 2) for (let seq = runs[i]!; seq <= runs[i + 1]! && seqs.length < max; seq++) seqs.push(seq);
  return seqs;
}
