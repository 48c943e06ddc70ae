// Typing notices (protocol v1.1): the server relays at most one per TYPING_INTERVAL_MS (2 s) per user
// and conversation and drops the rest, so the SDK writes no more than that: a keystroke handler can
// call typing() on every key.

export class TypingThrottle {
  /** conversationId → when a notice was last written (ms). */
  private readonly lastSent = new Map<string, number>();

  constructor(
    private readonly write: (conversationId: string) => boolean,
    private readonly intervalMs = 2000,
  ) {}

  /** Writes a typing notice unless one went out for this conversation within the interval; true when written. */
  typing(conversationId: string, now: number = Date.now()): boolean {
    const last = this.lastSent.get(conversationId);
    if (last !== undefined && now - last < this.intervalMs) return false;
    if (!this.write(conversationId)) return false;
    this.lastSent.delete(conversationId);
    this.lastSent.set(conversationId, now);
    // Bounded: entries older than the interval throttle nothing, so they can go.
    for (const [id, at] of this.lastSent) {
      if (now - at < this.intervalMs) break;
      this.lastSent.delete(id);
    }
    return true;
  }
}
