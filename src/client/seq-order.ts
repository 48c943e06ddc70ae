// Per-conversation order (protocol v1.1): the application gets each conversation's messages in seq
// order, once each. Messages at or below a conversation's `next` are repeats (a lost confirmation
// brought them back); one past a hole is held until the hole fills. Holes fill from the socket in
// the usual case: two instances' live messages crossing on the way. A hole still open after
// `gapWaitMs` is checked with a replay (`sync`): the replay sends every message this device has not
// confirmed, so what it does not bring is not coming (this device confirmed it in an earlier run, sent
// it itself, or the user was not a member then). Such a hole becomes a `gap` event, for the app to
// fetch from history, and the held messages go out. A conversation seen for the first time starts at
// the first seq it shows (older messages are history's job).
//
// The watermark a conversation may be confirmed with (`solid`) needs more than contiguity: the first
// message of a conversation seen live might have overtaken an older one still pending. Messages seen
// in a replay come in seq order from the device's cursor, so a track begun in a replay, and every
// track once a replay has finished (and one begun at seq 1), is `trusted`: everything up to next-1 is
// had or not pending.
//
// A store reset (the memory store after a server restart) numbers a conversation from seq 1 again.
// A message below `next` whose messageId the app was never shown, which is not in a hole this track
// declared a gap, and which was accepted after every message the track has shown (its `ts`), is no
// repeat then: the server's seq space started again. (The `ts` test keeps a real repeat whose id the
// bounded dedupe memory forgot a repeat: it is older than what came after it.) The track is restarted
// from that message (restart()), so that no watermark of the old space confirms new messages the app
// has not been shown.
import type { GapEvent } from './conversation-types.js';
import type { ChatMessage } from './types.js';

/** A message with its place in a conversation (v1.1). */
export type PlacedMessage = ChatMessage & { readonly conversationId: string; readonly seq: number };

export interface OrderHooks {
  /** The next message in seq order: show it. */
  deliver(message: PlacedMessage): void;
  /** A message the app already had (or skipped as a gap): confirm it again, show nothing. */
  repeat(message: PlacedMessage): void;
  /** A message below where this conversation's tracking began: show it unless its id was seen. */
  late(message: PlacedMessage): void;
  gap(event: GapEvent): void;
  /** Whether the app was shown this messageId (or an event's eventId). Without it no reset is recognised. */
  shown?(messageId: string): boolean;
  /** The conversation's seq space started again (a store reset): forget its watermarks and read marks. */
  restarted?(conversationId: string): void;
  /** Ask the server to replay what this device has not confirmed (a `sync`). */
  requestReplay(): void;
}

export interface OrderOptions {
  readonly gapWaitMs: number;
  readonly maxHeld: number;
  readonly maxTracked: number;
}

interface Track {
  /** The next seq the app should get. */
  next: number;
  /** The first seq this track saw. */
  readonly baseline: number;
  trusted: boolean;
  /** Held past a hole, by seq (message null: one of this device's own sends), with when each came (ms). */
  readonly held: Map<number, Held>;
  /** The latest holes declared gaps, [fromSeq, toSeq]: a message of one that turns up late is no reset. */
  readonly gaps: [number, number][];
  /** The newest accept time (ms) among the messages shown from this track. */
  newestTs: number;
}

/** Gaps remembered per track (a late message of an older one would be taken for a reset). */
const MAX_GAPS_REMEMBERED = 16;

interface Held {
  readonly message: PlacedMessage | null;
  readonly at: number;
}

export class SeqOrder {
  /** Insertion order is recency: a touched track moves to the end, the first is the least recent. */
  private readonly tracks = new Map<string, Track>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the last replay was asked for (a socket opened, or a sync for a hole). */
  private replayAskedAt = 0;

  constructor(
    private readonly hooks: OrderHooks,
    private readonly options: OrderOptions,
  ) {}

  /** A message frame; `replaying` while the replay after a connect runs (before `ready`). */
  received(message: PlacedMessage, replaying: boolean): void {
    const { seq } = message;
    let track = this.track(message.conversationId, seq, replaying);
    if (seq < track.next) {
      if (!this.isReset(track, message)) return seq < track.baseline ? this.hooks.late(message) : this.hooks.repeat(message);
      track = this.restart(message.conversationId, track, seq, replaying);
    }
    if (track.held.has(seq)) return; // held already: shown (and confirmed) when its turn comes
    if (seq === track.next) return this.advance(track, message);
    this.hold(message.conversationId, track, seq, message);
  }

  /** The SENT ack of this device's own send: the server does not send it back, so its seq counts as had. */
  ownSent(conversationId: string, seq: number): void {
    const track = this.tracks.get(conversationId);
    if (!track) return void this.touch(conversationId, { ...freshTrack(seq, false), next: seq + 1, trusted: false });
    if (seq < track.next || track.held.has(seq)) return;
    if (seq === track.next) return this.advance(track, null);
    this.hold(conversationId, track, seq, null);
  }

  /** A new socket opened: its replay will bring whatever is pending. */
  socketOpened(): void {
    this.replayAskedAt = Date.now();
  }

  /** `ready`: a replay finished. Holes older than the replay's request are gaps; every track is trusted. */
  replayDone(): void {
    for (const [conversationId, track] of this.tracks) {
      track.trusted = true;
      // A hole opened when the first message past it came; one opened after the replay was asked for
      // may be two live messages crossing, so it gets its own replay.
      this.skipHoles(conversationId, track, () => firstPast(track).at <= this.replayAskedAt);
    }
    this.schedule();
  }

  /** The seq this device may confirm the conversation up to with a watermark, if any. */
  solid(conversationId: string): number | undefined {
    const track = this.tracks.get(conversationId);
    return track?.trusted && track.next > 1 ? track.next - 1 : undefined;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private track(conversationId: string, seq: number, replaying: boolean): Track {
    const known = this.tracks.get(conversationId);
    if (known) {
      this.touch(conversationId, known);
      return known;
    }
    return this.touch(conversationId, freshTrack(seq, replaying));
  }

  /**
   * A message below `next` the app was never shown, that no declared gap explains, newer than all the
   * track showed. Below where an untrusted track began it may still be an older message that was
   * pending (`late`, shown anyway, and confirmed by id: an untrusted track has no watermark); a
   * trusted track has had everything below `next` that was pending.
   */
  private isReset(track: Track, message: PlacedMessage): boolean {
    const { seq, ts } = message;
    if (!this.hooks.shown || ts <= track.newestTs || this.hooks.shown(message.messageId)) return false;
    if (track.gaps.some(([from, to]) => seq >= from && seq <= to)) return false;
    return track.trusted || seq >= track.baseline;
  }

  /**
   * Starts the conversation's tracking again at `seq` after a store reset. What was held past a hole
   * belongs to the old seq space: the hole's messages went with the old store, so they are handed
   * over now, oldest first, before the new space begins, with no gap reported (history cannot fill
   * it: it holds the new space). They go out while the conversation has no track, so they are
   * confirmed by id, never by an old watermark; a watermark not yet written is dropped (restarted).
   */
  private restart(conversationId: string, old: Track, seq: number, replaying: boolean): Track {
    this.tracks.delete(conversationId);
    this.hooks.restarted?.(conversationId);
    for (const heldSeq of [...old.held.keys()].sort((a, b) => a - b)) {
      const held = old.held.get(heldSeq)!.message;
      if (held) this.hooks.late(held);
    }
    return this.touch(conversationId, freshTrack(seq, replaying));
  }

  private touch(conversationId: string, track: Track): Track {
    this.tracks.delete(conversationId);
    this.tracks.set(conversationId, track);
    while (this.tracks.size > this.options.maxTracked) {
      const [oldestId, oldest] = this.tracks.entries().next().value as [string, Track];
      this.skipHoles(oldestId, oldest); // nothing held is lost with a forgotten track
      this.tracks.delete(oldestId);
    }
    return track;
  }

  private hold(conversationId: string, track: Track, seq: number, message: PlacedMessage | null): void {
    track.held.set(seq, { message, at: Date.now() });
    if (track.held.size > this.options.maxHeld) this.skipTo(conversationId, track, lowest(track));
    else this.schedule();
  }

  /** Hands over `message` (seq = next) and everything held right behind it. */
  private advance(track: Track, message: PlacedMessage | null): void {
    track.next++;
    this.deliver(track, message);
    this.drain(track);
  }

  private drain(track: Track): void {
    for (let entry = track.held.get(track.next); entry !== undefined; entry = track.held.get(track.next)) {
      track.held.delete(track.next);
      track.next++;
      this.deliver(track, entry.message);
    }
  }

  private deliver(track: Track, message: PlacedMessage | null): void {
    if (!message) return;
    track.newestTs = Math.max(track.newestTs, message.ts);
    this.hooks.deliver(message);
  }

  /**
   * Declares the holes before held messages as gaps (while `more()` says so) and hands the messages
   * over: one `gap` per hole, each a range of seqs. The held seqs are sorted once per call, not
   * searched once per hole: thousands of holes after a replay would take quadratic time.
   */
  private skipHoles(conversationId: string, track: Track, more: () => boolean = () => true): void {
    for (const seq of [...track.held.keys()].sort((a, b) => a - b)) {
      if (seq < track.next) continue; // handed over by a drain already
      if (!more()) return;
      this.skipTo(conversationId, track, seq);
    }
  }

  /** Declares the hole below held `seq` a gap and hands over what is held from there on. */
  private skipTo(conversationId: string, track: Track, seq: number): void {
    track.gaps.push([track.next, seq - 1]);
    if (track.gaps.length > MAX_GAPS_REMEMBERED) track.gaps.shift();
    this.hooks.gap({ conversationId, fromSeq: track.next, toSeq: seq - 1 });
    track.next = seq;
    this.drain(track);
  }

  /** While any hole is open, a timer asks for a replay once the oldest hole is gapWaitMs old. */
  private schedule(): void {
    if (this.timer !== undefined) return;
    let oldest = Infinity;
    for (const track of this.tracks.values()) if (track.held.size > 0) oldest = Math.min(oldest, firstPast(track).at);
    if (oldest === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (![...this.tracks.values()].some((track) => track.held.size > 0)) return;
      this.replayAskedAt = Date.now();
      this.hooks.requestReplay();
    }, Math.max(0, oldest + this.options.gapWaitMs - Date.now()));
  }
}

/** A track beginning at `seq`. Seq 1 has nothing below it that could still be on the way. */
function freshTrack(seq: number, replaying: boolean): Track {
  return { next: seq, baseline: seq, trusted: replaying || seq === 1, held: new Map(), gaps: [], newestTs: 0 };
}

/** The earliest-arrived of the messages held (the Map keeps arrival order): O(1), not a scan. */
function firstPast(track: Track): Held {
  return track.held.values().next().value!;
}

/** The lowest seq held (one pass). */
function lowest(track: Track): number {
  let min = Infinity;
  for (const seq of track.held.keys()) min = Math.min(min, seq);
  return min;
}
