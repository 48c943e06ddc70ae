// Open-loop pacing for the load generator: sends at a fixed rate instead of "as fast as acks come
// back", so latency can be read at a chosen throughput (e.g. SENT-ack p99 at 20000 msg/s) and
// servers can be compared under the same offered load.
//
// A credit scheme, not a timer per send: by time t, rate × t sends are due; a 1 ms tick hands the
// credit out round-robin over connections whose window has room. When no window has room the credit
// piles up (the server is behind); `backlogMaxMs` reports how far behind schedule it got, which
// is what a reader needs to know to trust the latencies (they are measured from the actual send).

export class Pacer {
  private t0 = 0;
  private issued = 0;
  private timer: NodeJS.Timeout | undefined;
  private maxBacklog = 0;

  constructor(
    private readonly ratePerSec: number,
    private readonly tick: () => void,
  ) {}

  start(): void {
    this.t0 = performance.now();
    this.timer = setInterval(() => {
      this.tick();
      const backlog = this.due();
      if (backlog > this.maxBacklog) this.maxBacklog = backlog;
    }, 1);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Sends due now and not yet made. */
  due(): number {
    return Math.floor(((performance.now() - this.t0) * this.ratePerSec) / 1000) - this.issued;
  }

  take(): void {
    this.issued++;
  }

  /** The largest backlog seen, in milliseconds of sending at the target rate. */
  get backlogMaxMs(): number {
    return Math.round((this.maxBacklog / this.ratePerSec) * 10000) / 10;
  }
}

/**
 * One send per connection per round, rounds until `credit` sends are made or no connection can send:
 * paced credit is spread evenly instead of filling the first connection's window. Starts at `from` and
 * returns where the next call starts (after the last connection served), so that over ticks the
 * credit walks the connections in order: at R msgs/s over N connections each sends every N/R s, as a
 * user sending now and then does, not in bursts of R/1000 in consecutive ticks.
 *
 * The walk ends as soon as the credit is spent: at 5,000/s over 500 senders a 1 ms tick makes 5 sends,
 * and asking all 500 senders (and the clock) twice per tick was a fifth of the generator's CPU.
 */
export function pumpRoundRobin<T>(items: readonly T[], from: number, canSend: (item: T) => boolean, sendOne: (item: T) => void, credit = Infinity): number {
  const n = items.length;
  let next = from % n;
  for (let progress = true; progress && credit > 0; ) {
    progress = false;
    const start = next;
    for (let i = 0; i < n && credit > 0; i++) {
      const k = (start + i) % n;
      if (canSend(items[k]!)) {
        sendOne(items[k]!);
        credit--;
        progress = true;
        next = (k + 1) % n;
      }
    }
  }
  return next;
}
