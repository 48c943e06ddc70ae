// While the live bus is down (or stalled), events from other instances are lost: every
// BUS_FALLBACK_POLL_MS each connection here is caught up from the store instead (a quiet replay:
// only what it lacks, no `ready`). When the bus is back, what was published during the outage never
// arrives, so there are two more passes: one at once, and one a poll interval later, for what other
// instances published while this one's subscriptions were still being registered again. Bounded: a
// few connections at a time, and a pass asked for while one runs starts when it ends (never skipped:
// the running pass may have read a connection before the outage's last message was stored).
import type { Logger } from '../log.js';
import type { DeliverySession } from './delivery-session.js';

/** Connections caught up at once per pass. */
const CONCURRENCY = 8;

export class BusFallback {
  private timer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly pollMs: number,
    private readonly sessions: () => Iterable<DeliverySession>,
    private readonly catchUp: (session: DeliverySession) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** The bus's health changed. */
  health(up: boolean): void {
    if (this.closed || this.pollMs <= 0) return;
    if (up) {
      if (this.timer === undefined) return;
      clearInterval(this.timer);
      this.timer = undefined;
      this.log.info('live bus back: two more catch-ups from the store, then live again');
      void this.pass();
      this.settleTimer = setTimeout(() => {
        this.settleTimer = undefined;
        void this.pass();
      }, this.pollMs);
      this.settleTimer.unref();
      return;
    }
    if (this.timer !== undefined) return;
    this.log.warn({ pollMs: this.pollMs }, 'live bus down: polling the store for connected devices');
    this.timer = setInterval(() => void this.pass(), this.pollMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.settleTimer !== undefined) clearTimeout(this.settleTimer);
    this.timer = this.settleTimer = undefined;
  }

  /** Resolves when this pass (or the one it was folded into) has caught every connection up. */
  private pass(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.catchUpAll();
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async catchUpAll(): Promise<void> {
    const queue = [...this.sessions()];
    const worker = async () => {
      for (let session = queue.pop(); session; session = queue.pop()) {
        if (session.connection.open) await this.catchUp(session).catch(() => {}); // the next pass retries
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }
}
