// The live bus over NATS core pub/sub, under one deployment's namespace (BUS_NAMESPACE, by default
// derived from JWT_SECRET: create-bus.ts), so two deployments on one NATS never hear each other: one
// subject per user (`chat.<ns>.u.<base64url user id>`; user ids may hold '.', a NATS token separator),
// subscribed while the user has a connection on this instance, and one subject every instance of the
// deployment subscribes to (`chat.<ns>.all`) for group traffic and catch-up requests.
// Fire-and-forget by design: NATS core drops what no instance is subscribed to, and this instance drops
// what it publishes while its link is down (counted `dropped`). The store covers both: when the link
// is back, this instance asks every instance for one catch-up of its connected devices from the store
// (a `catchup` event), and does two of its own (src/chat/bus-fallback.ts).
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { errorSummary, uriForLogs, type Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { BusEvent, BusHandler, LiveBus } from './live-bus.js';
import { encodeWireEvent, messagePrefixFor, parseWireEvent } from './wire.js';

export interface NatsBusOptions {
  readonly uri: string;
  /** One NATS subject token: the deployment's subjects are `chat.<namespace>.…`. */
  readonly namespace: string;
  /** Longest a new connection's replay waits for its user's subscription to reach the NATS server. */
  readonly watchTimeoutMs: number;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** Between connect attempts while NATS has never been reached (the client's own reconnects use the same wait). */
const RETRY_MS = 1000;
const PING_INTERVAL_MS = 2000;
const MAX_PINGS_OUT = 2;
/**
 * A link is noticed lost up to MAX_PINGS_OUT + 1 ping intervals after it stopped carrying events (a
 * frozen server or a black-holed route): what was published in that time may be lost too.
 */
const LOSS_MARGIN_MS = (MAX_PINGS_OUT + 1) * PING_INTERVAL_MS;

/** Subjects of recently published-to users: the base64url conversion is paid once per user, not per event. */
const SUBJECT_CACHE_MAX = 10_000;

export class NatsBus implements LiveBus {
  readonly kind = 'nats';
  /** Tells this instance's own events apart when they come back on a subject it also watches. */
  private readonly origin = randomBytes(8).toString('hex');
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly counts;
  private nc: NatsConnection | undefined;
  private onEvent: BusHandler = () => {};
  private healthListeners: ((up: boolean) => void)[] = [];
  private up = false;
  private closed = false;
  /** subject, payload, subject, payload, …: what this event-loop turn published. */
  private outbox: string[] = [];
  private flushScheduled = false;
  private readonly subjects = new Map<string, string>();
  private readonly messagePrefix: string;
  private readonly userPrefix: string;
  private readonly allSubject: string;
  /** When the link stopped carrying events, minus LOSS_MARGIN_MS (ms); this instance's start until the first connect. */
  private lostFrom = Date.now();
  /** When this instance last handed events to the bus (or dropped them): once per flush, not per event. */
  private lastPublishAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: NatsBusOptions) {
    const events = options.metrics.busEvents;
    this.messagePrefix = messagePrefixFor(this.origin);
    this.userPrefix = `chat.${options.namespace}.u.`;
    this.allSubject = `chat.${options.namespace}.all`;
    this.counts = { out: events.cell('out'), in: events.cell('in'), dropped: events.cell('dropped'), invalid: events.cell('invalid') };
  }

  /** Connects in the background: an instance serves (alone) while NATS is unreachable. */
  async start(onEvent: BusHandler): Promise<void> {
    this.onEvent = onEvent;
    this.options.log.info({ bus: uriForLogs(this.options.uri) }, 'live bus connecting');
    this.connect(false);
  }

  /** One connect attempt; until the first succeeds, one more every RETRY_MS (the first failure is logged). */
  private connect(failedBefore: boolean): void {
    const { log } = this.options;
    const target = uriForLogs(this.options.uri);
    // Pings every 2 s, two unanswered = a dead link: a frozen NATS is noticed in seconds, not the
    // client's default 4 minutes, so the store fallback takes over (docs/scaling.md).
    connect({ servers: this.options.uri, name: `uws-chat-${this.origin}`, noEcho: true, maxReconnectAttempts: -1, reconnectTimeWait: RETRY_MS, pingInterval: PING_INTERVAL_MS, maxPingOut: MAX_PINGS_OUT }).then(
      (nc) => {
        if (this.closed) return void nc.close();
        this.nc = nc;
        nc.subscribe(this.allSubject, { callback: (error, msg) => !error && this.receive(msg.string(), undefined) });
        // Users who connected while NATS was unreachable: subscribe them now.
        for (const userId of this.subscriptions.keys()) this.subscribe(userId);
        log.info({ bus: target }, 'live bus connected');
        this.linkUp();
        void this.watchStatus(nc, target);
      },
      (error: unknown) => {
        if (this.closed) return;
        if (!failedBefore) log.warn({ bus: target, err: errorSummary(error), retryMs: RETRY_MS }, 'live bus unreachable; retrying');
        this.retryTimer = setTimeout(() => this.connect(true), RETRY_MS);
        this.retryTimer.unref();
      },
    );
  }

  /** The client's reconnects: one WARN when the link is lost (and why), one info line when it is back. */
  private async watchStatus(nc: NatsConnection, target: string): Promise<void> {
    let lastError: unknown;
    for await (const status of nc.status()) {
      if (this.closed) return;
      if (status.type === 'error') lastError = status.data;
      else if (status.type === 'disconnect' || status.type === 'staleConnection') {
        if (!this.up) continue;
        this.lostFrom = Date.now() - LOSS_MARGIN_MS;
        this.setHealth(false);
        this.options.log.warn({ bus: target, status: status.type, ...(lastError !== undefined ? { err: errorSummary(lastError) } : {}) }, 'live bus link lost');
        lastError = undefined;
      } else if (status.type === 'reconnect') {
        if (this.up) continue;
        this.options.log.info({ bus: target }, 'live bus link back');
        this.linkUp();
      }
    }
  }

  /**
   * The link carries events again. If this instance published anything since it may have stopped
   * (those events may be lost), every other instance is asked to catch its connected devices up from
   * the store: one event for the whole outage, however much was published.
   */
  private linkUp(): void {
    this.setHealth(true);
    if (this.lastPublishAt >= this.lostFrom) this.publishAll({ kind: 'catchup', since: this.lostFrom });
  }

  onHealth(listener: (up: boolean) => void): void {
    this.healthListeners.push(listener);
    listener(this.up);
  }

  private setHealth(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    for (const listener of this.healthListeners) listener(up);
  }

  async watch(userId: string): Promise<void> {
    if (this.subscriptions.has(userId)) return;
    const nc = this.subscribe(userId);
    if (!nc) return;
    // flush() round-trips to the server: after it, the SUB is registered and nothing published for
    // this user from now on can miss this instance. Bounded: a slow bus must not hold up the replay.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.watchTimeoutMs)));
    await Promise.race([nc.flush().catch(() => {}), timeout]);
    clearTimeout(timer);
  }

  unwatch(userId: string): void {
    const subscription = this.subscriptions.get(userId);
    if (subscription === undefined) return;
    this.subscriptions.delete(userId);
    if (!subscription.isClosed()) subscription.unsubscribe();
  }

  publish(userId: string, event: BusEvent): void {
    this.enqueue(this.subject(userId), event);
  }

  publishAll(event: BusEvent): void {
    this.enqueue(this.allSubject, event);
  }

  private enqueue(subject: string, event: BusEvent): void {
    if (this.closed) return void this.counts.dropped.value++;
    // Queued and handed to NATS once per event-loop turn: the client writes to its socket in a
    // microtask after the first publish, and uWS runs microtasks after every frame callback, so
    // publishing in place cost one write syscall per message (measured: 3x the server's CPU).
    this.outbox.push(subject, encodeWireEvent(this.origin, this.messagePrefix, event));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushOutbox);
    }
  }

  private subject(userId: string): string {
    let subject = this.subjects.get(userId);
    if (subject === undefined) {
      if (this.subjects.size >= SUBJECT_CACHE_MAX) this.subjects.clear();
      this.subjects.set(userId, (subject = this.userPrefix + Buffer.from(userId, 'utf8').toString('base64url')));
    }
    return subject;
  }

  private readonly flushOutbox = (): void => {
    this.flushScheduled = false;
    const items = this.outbox;
    this.outbox = [];
    this.lastPublishAt = Date.now();
    const nc = this.nc;
    // A link that is down (reconnecting, or stale) loses what it is given, or delivers it late: dropped,
    // and the `catchup` event when the link is back covers it.
    if (!nc || !this.up || nc.isClosed()) {
      this.counts.dropped.value += items.length / 2;
      return;
    }
    for (let i = 0; i < items.length; i += 2) {
      try {
        nc.publish(items[i]!, items[i + 1]!);
        this.counts.out.value++;
      } catch {
        this.counts.dropped.value++;
      }
    }
  };

  async close(): Promise<void> {
    this.flushOutbox(); // what was published before close still goes out
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.healthListeners = [];
    const nc = this.nc;
    this.nc = undefined;
    this.subscriptions.clear();
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  /** Subscribes (or remembers the user until NATS is connected); returns the connection if subscribed. */
  private subscribe(userId: string): NatsConnection | undefined {
    const nc = this.nc;
    if (!nc || nc.isClosed()) {
      this.subscriptions.set(userId, placeholder);
      return undefined;
    }
    const current = this.subscriptions.get(userId);
    if (current !== undefined && current !== placeholder) return nc;
    this.subscriptions.set(userId, nc.subscribe(this.subject(userId), { callback: (error, msg) => !error && this.receive(msg.string(), userId) }));
    return nc;
  }

  private receive(text: string, forUser: string | undefined): void {
    const event = parseWireEvent(text);
    if (!event) {
      this.counts.invalid.value++;
      return;
    }
    if (event.origin === this.origin) return;
    this.counts.in.value++;
    const { origin: _origin, ...busEvent } = event;
    this.onEvent(busEvent as BusEvent, forUser);
  }
}

/** A subscription slot for a user watched before NATS was reachable. */
const placeholder = { isClosed: () => true, unsubscribe: () => {} } as unknown as Subscription;
