// Replay on every connect and `sync`: every unconfirmed message to the user, in accept order, page by
// page from the store, then `ready`. Live messages arriving meanwhile are buffered by the router and
// sent after the replay (minus those the replay already sent), so they never jump ahead of older ones.
import type { Metrics } from '../metrics/registry.js';
import { encodeMessage, encodeReady } from '../protocol/frames.js';
import type { Store } from '../store/store.js';
import type { ChatConnection, ReplayState } from './connection.js';

export class ReplayService {
  constructor(
    private readonly store: Store,
    private readonly pageSize: number,
    /** Replay waits for the socket to drain above this many queued bytes (half the backpressure limit). */
    private readonly highWaterBytes: number,
    private readonly metrics: Metrics,
    /**
     * Longest a send can take from accept to its live delivery (queue wait + write, both bounded by
     * DB_OP_TIMEOUT_MS): replayed messages accepted within it may still be delivered live once more.
     */
    private readonly sendSettleMs: number,
  ) {}

  /**
   * Runs a replay; a call during a running replay schedules one more run after it. Rejects on store
   * errors. `after` (the live bus subscription) is awaited with live messages already buffered, so
   * nothing published meanwhile is missed or jumps ahead of the replay.
   */
  async replay(connection: ChatConnection, after?: Promise<void>): Promise<void> {
    if (connection.replay) {
      connection.replay.again = true;
      return;
    }
    const state: ReplayState = { buffered: [], overflowed: false, again: false };
    connection.replay = state;
    try {
      if (after) await after;
      do {
        state.again = false;
        const recent = new Set<string>();
        const replayed = await this.runOnce(connection, state, recent);
        if (!connection.open) return;
        const now = Date.now();
        connection.replayedRecently = recent.size > 0 ? { ids: recent, until: now + this.sendSettleMs } : undefined;
        connection.send(encodeReady(replayed));
        this.metrics.replayPending.observe(replayed);
      } while (state.again);
    } finally {
      connection.replay = undefined;
    }
  }

  private async runOnce(connection: ChatConnection, state: ReplayState, recent: Set<string>): Promise<number> {
    const sent = new Set<string>();
    const recentSince = Date.now() - this.sendSettleMs;
    let replayed = 0;
    for (;;) {
      state.overflowed = false;
      let after: number | undefined;
      do {
        const page = await this.store.pendingFor(connection.userId, after, this.pageSize);
        for (const message of page.messages) {
          if (sent.has(message.messageId)) continue;
          if (!connection.open) return replayed;
          connection.send(encodeMessage(message));
          sent.add(message.messageId);
          if (message.ts >= recentSince) recent.add(message.messageId);
          replayed++;
          if (connection.pressure() > this.highWaterBytes && !(await connection.writable())) return replayed;
        }
        after = page.next;
      } while (after !== undefined);
      // Flushed synchronously: nothing can arrive between the last page and `ready`.
      if (!state.overflowed) {
        for (const message of state.buffered.splice(0)) {
          if (sent.has(message.messageId)) continue;
          connection.send(encodeMessage(message));
          sent.add(message.messageId);
          replayed++;
        }
        this.metrics.replayedMessages.inc(replayed);
        return replayed;
      }
      // The live buffer overflowed: what it dropped is stored, so read the store again.
      state.buffered.length = 0;
    }
  }
}
