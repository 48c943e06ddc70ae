// Replay on every connect and `sync`: every message this device has not confirmed, in each of the
// user's conversations past its cursor (store.replayTargets), merged by accept time, then `ready`. Live
// messages arriving meanwhile are held by the session and sent after the replay (minus those the
// replay already sent), so they never jump ahead of older ones.
import type { Metrics } from '../metrics/registry.js';
import type { ReplayTarget, Store } from '../store/store.js';
import { KeyedLock } from '../lock.js';
import { nextTurn } from '../turn-end.js';
import type { ConfirmationsInFlight } from './confirmations-in-flight.js';
import type { RateLimiter } from './rate-limit.js';
import type { DeliverySession, ReplayState } from './delivery-session.js';
import { ReplayMerge } from './replay-merge.js';

/** Fewest messages read per conversation per store call, however many conversations a replay spans. */
const MIN_CONVERSATION_PAGE = 20;

export class ReplayService {
  constructor(
    private readonly store: Store,
    private readonly pageSize: number,
    /** Replay waits for the socket to drain above this many queued bytes (half the backpressure limit). */
    private readonly highWaterBytes: number,
    private readonly metrics: Metrics,
    /** This device's confirmations still being written (a previous connection's too): waited for before reading. */
    private readonly confirmations: ConfirmationsInFlight,
    /** Messages a user's replays send and pages they read, per second past a burst (REPLAY_RATE_PER_SEC, REPLAY_BURST): past it a replay waits. */
    private readonly budget: RateLimiter,
  ) {}

  /**
   * One user's replays read the store one at a time (their targets, then each round of pages): 20 devices of a user in 2,500
   * conversations, connecting at once, were 20 × 16 reads in flight, and every other user's store
   * work waited behind them (store probe: a bystander's send→SENT p50 4 s on FerretDB).
   */
  private readonly userReads = new KeyedLock();

  /**
   * Runs a replay; a call during a running replay schedules one more run after it. Rejects on store
   * errors. A `quiet` run is the bus fallback's catch-up: only what this connection lacks, no `ready`. `after` (the bus subscription and group index) is awaited with live messages already held,
   * so nothing published meanwhile is missed or jumps ahead of the replay.
   */
  async replay(session: DeliverySession, after?: Promise<void>, quiet = false): Promise<void> {
    if (session.replay) {
      if (!quiet) session.replay.again = true;
      return;
    }
    const state: ReplayState = { buffered: [], overflowed: false, again: false };
    session.replay = state;
    try {
      if (after) await after;
      let quietRun = quiet;
      do {
        state.again = false;
        // A quiet run sends nothing this connection was sent, and its first replay waited for what
        // earlier connections were confirming: waiting here would only delay the catch-up.
        const confirming = quietRun ? undefined : this.confirmations.settled(session.userId, session.deviceId);
        if (confirming) await confirming;
        const replayed = await this.runOnce(session, state, quietRun);
        if (!session.connection.open) return;
        if (!quietRun) {
          session.connection.send({ type: 'ready', replayed });
          this.metrics.replayPending.observe(replayed);
        }
        quietRun = false; // a sync during a quiet catch-up is answered with a full replay and `ready`
      } while (state.again);
    } finally {
      session.replay = undefined;
    }
  }

  /** `quiet`: a catch-up (bus fallback), which skips what this connection was already sent and has no `ready`. */
  private async runOnce(session: DeliverySession, state: ReplayState, quiet: boolean): Promise<number> {
    const { connection } = session;
    const sentNow = new Set<string>();
    let replayed = 0;
    /** Sent from the store since the last pause: not yet charged to the user's replay budget. */
    let unpaid = 0;
    try {
      for (;;) {
        state.overflowed = false;
        // Through the user's gate too, and not at all once the connection is gone: on FerretDB the
        // targets are a read per conversation, and 10 devices of a user in 1,500 conversations opened and
        // closed at once kept the store busy 25 s after the sockets closed (re-checked store probe).
        const targets = await this.userReads.run(connection.userId, async () => (connection.open ? (await this.store.replayTargets(connection.userId, connection.deviceId)).filter((target) => session.takes(target)) : []));
        if (!connection.open) return replayed;
        const merge = this.mergeFor(session, targets);
        for (let message = await merge.next(); message; message = await merge.next()) {
          if (sentNow.has(message.messageId) || session.isConfirmed(message) || session.isConfirming(message.messageId) || (quiet && session.wasSent(message.messageId))) continue;
          if (!connection.open) return replayed;
          if (session.sendMessage(message)) replayed++; // `ready` counts the message frames sent, not what was withheld
          sentNow.add(message.messageId);
          if (connection.pressure() > this.highWaterBytes && !(await connection.writable())) return replayed;
          if (++unpaid >= this.pageSize) {
            await this.pause(connection.userId, unpaid);
            unpaid = 0;
            if (!connection.open) return replayed;
          }
        }
        if (!connection.open) return replayed;
        // Sent synchronously: nothing can arrive between the last page and `ready`.
        if (!state.overflowed) {
          for (const message of state.buffered.splice(0)) {
            if (sentNow.has(message.messageId) || session.wasSent(message.messageId) || session.isConfirmed(message)) continue;
            if (session.sendMessage(message)) replayed++;
            sentNow.add(message.messageId);
          }
          this.metrics.replayedMessages.inc(replayed);
          return replayed;
        }
        // The live buffer overflowed: what it dropped is stored, so read the store again.
        state.buffered.length = 0;
      }
    } finally {
      this.budget.charge(connection.userId, unpaid); // the next replay pays for the last stretch
    }
  }

  /** The merge of a device's conversations, its page reads stopped with its connection, charged to and gated by its user. */
  private mergeFor(session: DeliverySession, targets: readonly ReplayTarget[]): ReplayMerge {
    const { connection } = session;
    const perConversation = Math.max(MIN_CONVERSATION_PAGE, Math.ceil(this.pageSize / Math.max(1, targets.length)));
    return new ReplayMerge(
      this.store,
      targets,
      Math.min(this.pageSize, perConversation),
      (message) => session.isOwn(message),
      () => !connection.open,
      async (count, reads) => {
        // A page read is store work whether or not it finds anything to send: it is charged as a message.
        await this.spend(connection.userId, count);
        return this.userReads.run(connection.userId, reads);
      },
    );
  }

  /**
   * Between pages: charges the user's replay budget, then lets other work run. On the memory store
   * every await of a replay resolves at once, so without this thousands of messages went out in one
   * event-loop turn while every other user's frames waited (3,000 pending: a bystander's send→SENT
   * went from under 1 ms to 41–50 ms). Past the budget it waits until the budget is paid back: a user
   * who never confirms and syncs again and again gets their messages at REPLAY_RATE_PER_SEC. Live
   * messages meanwhile are held in `state.buffered`, as during a store read.
   */
  private async pause(userId: string, sent: number): Promise<void> {
    if (!(await this.spend(userId, sent))) await nextTurn();
  }

  /** Charges the user's replay budget `count`; waits while it is overdrawn. True if it waited. */
  private async spend(userId: string, count: number): Promise<boolean> {
    const bucket = this.budget.bucketOf(userId);
    this.budget.chargeBucket(bucket, count);
    const ms = this.budget.msUntil(bucket, 0);
    if (ms === 0) return false;
    this.metrics.replayWaits.inc();
    await new Promise((resolve) => setTimeout(resolve, ms));
    return true;
  }
}
