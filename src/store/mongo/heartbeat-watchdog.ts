// Notices a MongoClient whose server monitor has hung, so the store can replace the client.
//
// Why: with the mongodb driver (7.9), when the database's sockets are reset, the monitor can write its
// next `hello` to a socket Node has already destroyed. Node then emits neither 'drain' nor 'error'
// for that write and no socket timeout fires, so the heartbeat never ends: the server stays Unknown
// and every operation fails server selection for good, although the database is back and a new
// client reaches it at once. Seen in about one of four store-outage runs under load
// (test/reliability/store-outage.test.ts; docs/reliability.md, "A client that never recovers").
//
// A heartbeat is bounded by the driver itself: connectTimeoutMS for a polled one, plus
// heartbeatFrequencyMS for an awaited (streaming) one. One that runs for twice that has hung.
import type { MongoClient } from 'mongodb';

export interface HeartbeatWatchdogOptions {
  /** The longest a healthy heartbeat can last: connectTimeoutMS + heartbeatFrequencyMS. */
  readonly heartbeatBoundMs: number;
  /** Called once per check while a heartbeat has hung (again on the next check if it still has). */
  readonly onHung: (hungForMs: number) => void;
  readonly now?: () => number;
}

export class HeartbeatWatchdog {
  private startedAt: number | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(client: MongoClient, private readonly options: HeartbeatWatchdogOptions) {
    this.now = options.now ?? Date.now;
    client.on('serverHeartbeatStarted', () => (this.startedAt = this.now()));
    client.on('serverHeartbeatSucceeded', () => (this.startedAt = undefined));
    client.on('serverHeartbeatFailed', () => (this.startedAt = undefined));
    this.timer = setInterval(() => this.check(), this.limitMs / 2);
    this.timer.unref();
  }

  get limitMs(): number {
    return 2 * this.options.heartbeatBoundMs;
  }

  check(): void {
    if (this.startedAt === undefined) return;
    const running = this.now() - this.startedAt;
    if (running > this.limitMs) this.options.onHung(running);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
