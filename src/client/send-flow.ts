// How fast the outbox may write, so that the SDK's own bursts never trip the server's abuse close: a
// connection answered `rate_limited` RATE_LIMITED_CLOSE_AFTER (default 20) times within 10 s is closed
// with 1008, and its user's upgrades are refused for a cooldown. Two limits:
// - a window: at most `maxInFlight` sends written on the socket and not answered yet. The first
//   refusal pauses the outbox (Sender), but what is in flight then is refused as well, so the window
//   bounds the refusals one burst costs;
// - a pace, learned from refusals. The server's bucket is empty at each refusal, so between two
//   rate-limited episodes of a sender that kept writing it accepted what the bucket refilled:
//   accepted / elapsed is the refill rate. From the second episode on, writes are spaced to
//   PACE_SHARE of that rate and the bucket stops running dry. Until the pace is forgotten the window
//   is halved, so the second episode costs half the first: with the default window (8) a burst costs
//   at most 8 + 4 refusals before the pace holds, under the server's 20 with room for other frames'.
// The estimate can only err low: the bucket was empty at the first refusal, so what it let through
// since is at most its refill (one that sat full at its cap, the sender idle, refilled less). A pace
// too slow costs time, never a refusal, and is forgotten PACE_MEMORY_MS after the last refusal; it
// outlives an idle outbox, so a sender bursting again is paced from the start.

/** The share of the learned rate written at: room for network jitter bunching writes, and for the user's other senders. */
const PACE_SHARE = 0.9;
/** How long a learned pace (and the episode an estimate starts from) is kept without a new refusal. */
const PACE_MEMORY_MS = 30_000;

export class SendFlow {
  /** Counts rate-limited episodes: a refusal of a send written during the current one is not a new one. */
  private episode = 0;
  private episodeAt: number | undefined;
  /** Sends accepted since the current episode began. */
  private accepted = 0;
  /** Spacing between writes (ms); 0: unpaced. */
  private spacingMs = 0;
  private nextWriteAt = 0;

  constructor(
    /** Sends written and not answered at most (ConnectOptions.maxInFlight). */
    private readonly maxInFlight: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new TypeError(`maxInFlight must be a whole number >= 1, got ${maxInFlight}`);
  }

  /** The episode a send written now belongs to (see rateLimited). */
  get currentEpisode(): number {
    return this.episode;
  }

  /** Sends that may be in flight now: the window, halved while a rate-limited episode is remembered. */
  get window(): number {
    return this.remembered() ? Math.ceil(this.maxInFlight / 2) : this.maxInFlight;
  }

  /** A send (or edit, delete) was acknowledged. */
  acked(): void {
    this.accepted++;
  }

  /** A `rate_limited` refusal of a send written during `writtenIn` (its episode number). */
  rateLimited(writtenIn: number): void {
    if (writtenIn !== this.episode) return; // in flight when the episode began: refused with it
    const now = this.now();
    const sinceMs = this.remembered(now) ? now - this.episodeAt! : 0;
    // accepted / sinceMs is the refill rate; writes go PACE_SHARE of it, one every this many ms.
    if (sinceMs > 0) this.spacingMs = sinceMs / (PACE_SHARE * Math.max(1, this.accepted));
    this.episode++;
    this.episodeAt = now;
    this.accepted = 0;
  }

  /** How long (ms) until the next send may be written, by the pace (0: now). */
  waitMs(): number {
    if (this.spacingMs === 0) return 0;
    const now = this.now();
    if (!this.remembered(now)) {
      this.spacingMs = 0;
      return 0;
    }
    return Math.max(0, this.nextWriteAt - now);
  }

  /** Whether the last episode is recent enough to learn from and to pace by. */
  private remembered(now = this.now()): boolean {
    return this.episodeAt !== undefined && now - this.episodeAt <= PACE_MEMORY_MS;
  }

  /** A send was written. */
  wrote(): void {
    if (this.spacingMs > 0) this.nextWriteAt = Math.max(this.now(), this.nextWriteAt) + this.spacingMs;
  }
}
