// While the live bus is down (or stalled), events from other instances are lost: every
// BUS_FALLBACK_POLL_MS each connection here is caught up from the store instead (a quiet replay:
// only what it lacks, no `ready`), and once more when the bus is back (what was published during the
// outage never arrives). Bounded: a few connections at a time, each pass waits for the previous one.
import type { Logger } from '../log.js';
import type { DeliverySession } from './delivery-session.js';

/** Connections caught up at once per pass. */
const CONCURRENCY = 8;

export class BusFallback {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
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
      this.log.info('live bus back: one more catch-up from the store, then live again');
      void this.pass();
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
    this.timer = undefined;
  }

  private async pass(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const queue = [...this.sessions()];
      const worker = async () => {
        for (let session = queue.pop(); session; session = queue.pop()) {
          if (session.connection.open) await this.catchUp(session).catch(() => {}); // the next pass retries
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    } finally {
      this.running = false;
    }
  }
}
