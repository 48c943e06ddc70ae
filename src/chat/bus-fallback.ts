// While the live bus is down (or stalled), events from other instances are lost: every
// BUS_FALLBACK_POLL_MS each connection here is caught up from the store instead (a quiet replay:
// only what it lacks, no `ready`). When the bus is back, what was published during the outage never
// arrives, so there are two more rounds: one at once, and one a poll interval later, for what other
// instances published while this one's subscriptions were still being registered again.
//
// Another instance's link coming back is this instance's business too: what that instance's users sent
// to users here while its link was down never came (it dropped its own publishes). It says so with one
// `catchup` event to every instance, and each catches its connected devices up once (peerBack). Such
// events are coalesced: all that arrive within PEER_COALESCE_MS (a frozen NATS thawing brings one from
// every instance) cost one round, and a round never runs a connection's catch-up twice at once.
//
// Each connection is caught up on its own, a few at a time: one slow catch-up (a store read stuck
// behind a busy database, a socket waiting to drain) must not hold back everyone else's next one. A
// round that finds a connection's catch-up still running asks for one more after it (never skipped:
// the running one may have read the store before the outage's last message was stored).
import type { Logger } from '../log.js';
import type { DeliverySession } from './delivery-session.js';

/** Connections caught up at once. */
const CONCURRENCY = 8;
/** `catchup` events within this window after the first cost one round. */
export const PEER_COALESCE_MS = 100;

export class BusFallback {
  private timer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private peerTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The bus was up once: its later health changes are outages (the first `false` is only "not connected yet"). */
  private wasUp = false;
  /** Waiting for a worker, in order (a Set iterates in insertion order). */
  private readonly queued = new Set<DeliverySession>();
  /** Being caught up now: each connection at most once at a time. */
  private readonly inProgress = new Set<DeliverySession>();
  /** Of those being caught up, the ones a later round asked for again. */
  private readonly again = new Set<DeliverySession>();
  /** Catch-ups slower than this are logged: what keeps a device from live delivery during an outage. */
  private readonly slowMs: number;

  constructor(
    private readonly pollMs: number,
    private readonly sessions: () => Iterable<DeliverySession>,
    private readonly catchUp: (session: DeliverySession) => Promise<void>,
    private readonly log: Logger,
  ) {
    this.slowMs = Math.max(1000, 2 * pollMs);
  }

  /** The bus's health changed (the bus logs why; the first `false` is the link not being connected yet). */
  health(up: boolean): void {
    if (this.closed || this.pollMs <= 0) return;
    if (up) {
      const outage = this.wasUp;
      this.wasUp = true;
      if (this.timer === undefined) return;
      clearInterval(this.timer);
      this.timer = undefined;
      if (outage) this.log.info('bus fallback: two more catch-ups from the store, then live again');
      this.round();
      this.settleTimer = setTimeout(() => {
        this.settleTimer = undefined;
        this.round();
      }, this.pollMs);
      this.settleTimer.unref();
      return;
    }
    if (this.timer !== undefined) return;
    if (this.wasUp) this.log.info({ pollMs: this.pollMs }, 'bus fallback: polling the store for connected devices');
    this.timer = setInterval(() => this.round(), this.pollMs);
    this.timer.unref();
  }

  /**
   * Another instance's link is back: what it published since `since` may be lost. One round for
   * every such event within PEER_COALESCE_MS. The round reads the store after the event arrived, so
   * after everything that instance stored before it published the event.
   */
  peerBack(since: number): void {
    if (this.closed || this.pollMs <= 0 || this.peerTimer !== undefined) return;
    this.log.info({ since: new Date(since).toISOString() }, 'bus fallback: another instance\'s link is back, catching connected devices up from the store');
    this.peerTimer = setTimeout(() => {
      this.peerTimer = undefined;
      this.round();
    }, PEER_COALESCE_MS);
    this.peerTimer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.settleTimer !== undefined) clearTimeout(this.settleTimer);
    if (this.peerTimer !== undefined) clearTimeout(this.peerTimer);
    this.timer = this.settleTimer = this.peerTimer = undefined;
    this.queued.clear();
  }

  /** Every open connection gets a catch-up that starts from now on. */
  private round(): void {
    for (const session of this.sessions()) {
      if (!session.connection.open || this.queued.has(session)) continue; // a queued catch-up has not read yet: it stands in for this one
      if (this.inProgress.has(session)) this.again.add(session);
      else this.queued.add(session);
    }
    this.pump();
  }

  private pump(): void {
    for (const session of this.queued) {
      if (this.closed || this.inProgress.size >= CONCURRENCY) return;
      this.queued.delete(session);
      this.inProgress.add(session);
      void this.run(session);
    }
  }

  private async run(session: DeliverySession): Promise<void> {
    const started = Date.now();
    try {
      if (session.connection.open) await this.catchUp(session).catch(() => {}); // the next round retries
    } finally {
      const ms = Date.now() - started;
      if (ms > this.slowMs) this.log.warn({ ms, pollMs: this.pollMs }, 'bus fallback: a device\'s catch-up from the store was slow');
      this.inProgress.delete(session);
      if (this.again.delete(session) && session.connection.open && !this.closed) this.queued.add(session);
      this.pump();
    }
  }
}
