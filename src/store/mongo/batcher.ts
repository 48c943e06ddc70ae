// Group commit for one kind of store operation: items wait at most `maxWaitMs` or until `maxOps` are
// queued, then go to the database as one write. At most one batch is in flight: batches are written in
// the order they are formed, and one key's items (one user's) keep their order across batches.
//
// Fair: items queue per key (`keyOf`, the user) and each batch takes them round-robin, one per key per
// pass, so one user's backlog never takes another user's turn (a user flooding confirmations used to
// fill the one shared queue and time everyone out).
//
// Bounded by time, not by a count: an item that cannot be served within `maxQueueWaitMs` (the store's
// measured throughput, the items ahead of it in the round-robin, and the batch in flight) is refused at
// once with a retry-after hint, instead of waiting out the timeout in a long queue and failing then.
// `maxQueued` stays as a memory backstop, and items that still outwait `maxQueueWaitMs` are refused
// unwritten when their batch is formed.
import { StoreUnavailableError } from '../store.js';
import { ThroughputEstimate } from './throughput.js';

export interface BatcherOptions<I, R> {
  /** Longest an item waits for company before its batch is written (0: the same event-loop turn). */
  readonly maxWaitMs: number;
  /** Most items in one batch. */
  readonly maxOps: number;
  /** Most items queued (not yet in flight); beyond it `add` rejects at once as unavailable. */
  readonly maxQueued: number;
  /** Longest an item may wait to be written: one that cannot make it is refused at `add`. */
  readonly maxQueueWaitMs: number;
  /** The fairness key of an item (its user); one key's items keep their order. Default: one key. */
  readonly keyOf?: (item: I) => string;
  /**
   * Most items of one key in one batch (default maxOps). Others' items that arrive while a batch is
   * in flight wait for it, so this bounds what one user's backlog adds to everyone's latency.
   */
  readonly maxOpsPerKey?: number;
  /** What an item counts toward maxOpsPerKey (default 1): a confirmation, its ids. */
  readonly weightOf?: (item: I) => number;
  /** Writes one batch; returns one result or Error per item, in order, or throws to fail them all. */
  readonly write: (items: readonly I[]) => Promise<ReadonlyArray<R | Error>>;
  /** Called after every batch with its size, duration and outcome (metrics). */
  readonly observe?: (size: number, seconds: number, failed: boolean) => void;
  /**
   * Re-check the queue while a batch is in flight (persists: a restart's backlog is refused at once,
   * not after the timeout). Off for confirmations: there it shed a well-behaved user's single
   * confirmation behind a flooder's large ones (test/reliability/confirmation-flood.test.ts).
   */
  readonly recheckWhileInFlight?: boolean;
  /** Called when an item is refused before being written (metrics): `overload` or `expired`. */
  readonly onShed?: (reason: 'overload' | 'expired' | 'full') => void;
  readonly now?: () => number;
}

interface Entry<I, R> {
  readonly item: I;
  readonly queuedAt: number;
  resolve(result: R): void;
  reject(error: Error): void;
}

/** One key's queue: a head index instead of shift(), which is O(n) per item on a long lane. */
interface Lane<I, R> {
  readonly entries: Entry<I, R>[];
  head: number;
}

const ONE_KEY = '';

export class Batcher<I, R> {
  /** key → its queued items; Map order is the round-robin order. */
  private readonly lanes = new Map<string, Lane<I, R>>();
  private queued = 0;
  private inFlight: Promise<void> | undefined;
  private inFlightSince = 0;
  private inFlightSize = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly throughput = new ThroughputEstimate();
  private readonly now: () => number;

  constructor(private readonly options: BatcherOptions<I, R>) {
    this.now = options.now ?? Date.now;
  }

  /** Resolves with the item's result once its batch is acknowledged. */
  add(item: I): Promise<R> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    if (this.queued >= this.options.maxQueued) {
      this.options.onShed?.('full');
      return Promise.reject(new StoreUnavailableError(`store write queue is full (${this.options.maxQueued} queued)`, { retryAfterMs: this.options.maxQueueWaitMs }));
    }
    const key = this.options.keyOf?.(item) ?? ONE_KEY;
    const lane = this.lanes.get(key);
    const waitMs = this.estimateWaitMs(lane ? lane.entries.length - lane.head : 0);
    if (waitMs > this.options.maxQueueWaitMs) {
      this.options.onShed?.('overload');
      return Promise.reject(new StoreUnavailableError(`store is overloaded: a write queued now would wait about ${Math.round(waitMs)} ms (limit ${this.options.maxQueueWaitMs} ms)`, { retryAfterMs: waitMs }));
    }
    return new Promise<R>((resolve, reject) => {
      const entry = { item, queuedAt: this.now(), resolve, reject };
      if (lane) lane.entries.push(entry);
      else this.lanes.set(key, { entries: [entry], head: 0 });
      this.queued++;
      this.schedule();
    });
  }

  /** Items queued or in flight. */
  get pending(): number {
    return this.queued + (this.inFlight ? this.inFlightSize : 0);
  }

  /** Writes everything queued now and resolves when nothing is queued or in flight. */
  async flush(): Promise<void> {
    if (this.queued === 0 && !this.inFlight) return;
    this.clearTimer();
    if (!this.inFlight) this.startNext();
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new items, then writes what is queued. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /**
   * How long an item queued now behind `ownQueued` items of its own key would wait: the rest of the
   * batch in flight, then the items ahead of it in the round-robin (at most `ownQueued + 1` per key)
   * at the store's measured throughput. Before anything is measured (a fresh start meeting every
   * client's backlog at once), a slow start: one batch's worth is admitted, the rest refused.
   */
  private estimateWaitMs(ownQueued: number): number {
    // Nothing queued or in flight: an item now is the next batch. Always admitted, so the batcher
    // keeps probing the store and its estimate can recover, whatever it says.
    if (!this.inFlight && this.queued === 0) return 0;
    const inFlightMs = this.inFlight ? this.now() - this.inFlightSince : 0;
    // A batch in flight past the whole budget: the store is not answering; nothing queued now can make it.
    if (inFlightMs > this.options.maxQueueWaitMs) return inFlightMs;
    const perItemMs = this.throughput.msPerItem(this.inFlight ? { size: this.inFlightSize, elapsedMs: inFlightMs } : undefined);
    if (perItemMs === undefined) return this.queued < this.options.maxOps ? 0 : this.options.maxQueueWaitMs + 1;
    const keys = this.lanes.size + (ownQueued === 0 ? 1 : 0);
    const ahead = Math.min(this.queued + 1, (ownQueued + 1) * keys);
    const rest = this.inFlight ? Math.max(0, this.inFlightSize * perItemMs - inFlightMs) : 0;
    return rest + ahead * perItemMs + this.options.maxWaitMs;
  }

  private schedule(): void {
    if (this.inFlight) return; // the in-flight batch starts the next one when it ends
    if (this.queued >= this.options.maxOps) {
      this.clearTimer();
      this.startNext();
    } else if (!this.timer) {
      const fire = () => {
        this.timer = undefined;
        if (!this.inFlight) this.startNext();
      };
      // setImmediate still gathers everything queued in this event-loop turn.
      this.timer = this.options.maxWaitMs > 0 ? setTimeout(fire, this.options.maxWaitMs) : (setImmediate(fire) as unknown as NodeJS.Timeout);
    }
  }

  private clearTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    clearImmediate(this.timer as unknown as NodeJS.Immediate);
    this.timer = undefined;
  }

  /**
   * Up to maxOps items, one per key per pass, at most maxOpsPerKey per key (by weight; a key's first
   * item is always taken); keys visited in a partial pass, and keys that reached their share, move to
   * the back.
   */
  private takeBatch(): Entry<I, R>[] {
    const now = this.now();
    const perKey = this.options.maxOpsPerKey ?? this.options.maxOps;
    const batch: Entry<I, R>[] = [];
    const visited: [string, Lane<I, R>][] = [];
    const full: [string, Lane<I, R>][] = [];
    const taken = new Map<string, number>();
    const requeue = (lanes: [string, Lane<I, R>][]) => {
      for (const [key, lane] of lanes) this.lanes.set(key, lane);
      lanes.length = 0;
    };
    while (batch.length < this.options.maxOps && this.lanes.size > 0) {
      for (const [key, lane] of this.lanes) {
        const entry = lane.entries[lane.head++]!;
        this.queued--;
        this.lanes.delete(key); // deleting the current key is safe while iterating a Map
        const count = (taken.get(key) ?? 0) + (this.options.weightOf?.(entry.item) ?? 1);
        taken.set(key, count);
        if (lane.head < lane.entries.length) {
          if (lane.head > 1024 && lane.head * 2 > lane.entries.length) lane.entries.splice(0, lane.head), (lane.head = 0);
          (count < perKey ? visited : full).push([key, lane]);
        }
        if (now - entry.queuedAt > this.options.maxQueueWaitMs) {
          this.options.onShed?.('expired');
          entry.reject(new StoreUnavailableError(`store write waited more than ${this.options.maxQueueWaitMs} ms in the queue`, { retryAfterMs: this.options.maxQueueWaitMs }));
        } else {
          batch.push(entry);
          if (batch.length >= this.options.maxOps) break;
        }
      }
      requeue(visited);
    }
    requeue(visited);
    requeue(full);
    return batch;
  }

  /**
   * Refuses now what the latest measurement says can no longer be written in time (the store slowed
   * down, or the first measurement came in), rather than when its time is up. An item `i` deep in its
   * lane has about (i + 1) items of every lane ahead of it.
   */
  private shedHopeless(): void {
    if (this.queued === 0) return;
    const now = this.now();
    const inFlightMs = this.inFlight ? now - this.inFlightSince : 0;
    const perItemMs = this.throughput.msPerItem(this.inFlight ? { size: this.inFlightSize, elapsedMs: inFlightMs } : undefined);
    if (perItemMs === undefined) return;
    // What the batch in flight still needs before anything queued starts (0 once it is overdue).
    const rest = this.inFlight ? Math.max(0, this.inFlightSize * perItemMs - inFlightMs) : 0;
    const keys = this.lanes.size;
    for (const [key, lane] of this.lanes) {
      const kept: Entry<I, R>[] = [];
      for (let i = lane.head; i < lane.entries.length; i++) {
        const entry = lane.entries[i]!;
        const ahead = Math.min(this.queued, (kept.length + 1) * keys);
        if (entry.queuedAt + this.options.maxQueueWaitMs >= now + rest + ahead * perItemMs) {
          kept.push(entry);
          continue;
        }
        this.queued--;
        this.options.onShed?.('overload');
        entry.reject(new StoreUnavailableError('store is overloaded: this write could no longer be served in time', { retryAfterMs: Math.max(ahead * perItemMs, this.options.maxQueueWaitMs) }));
      }
      if (kept.length === 0) this.lanes.delete(key);
      else if (kept.length !== lane.entries.length - lane.head) this.lanes.set(key, { entries: kept, head: 0 });
    }
  }

  private startNext(): void {
    this.shedHopeless();
    const batch = this.takeBatch();
    if (batch.length === 0) return this.settleIdle();
    this.inFlightSince = this.now();
    this.inFlightSize = batch.length;
    // Optionally, what queues behind a batch in flight is checked four times per budget, so a store
    // that slowed down refuses at once what it can no longer write in time (sends after restarts).
    const watch = this.options.recheckWhileInFlight ? setInterval(() => this.shedHopeless(), Math.max(10, this.options.maxQueueWaitMs / 4)) : undefined;
    watch?.unref();
    this.inFlight = this.run(batch).finally(() => {
      if (watch) clearInterval(watch);
      this.inFlight = undefined;
      if (this.queued > 0) this.startNext();
      else this.settleIdle();
    });
  }

  private async run(batch: readonly Entry<I, R>[]): Promise<void> {
    const started = performance.now();
    let failed = false;
    try {
      const results = await this.options.write(batch.map((entry) => entry.item));
      batch.forEach((entry, i) => {
        const result = results[i];
        if (result instanceof Error) entry.reject(result);
        else if (result === undefined && i >= results.length) entry.reject(new Error('batch write returned too few results'));
        else entry.resolve(result as R);
      });
    } catch (error) {
      failed = true;
      const reason = error instanceof Error ? error : new Error(String(error));
      for (const entry of batch) entry.reject(reason);
    }
    const ms = performance.now() - started;
    this.throughput.record(batch.length, ms, failed);
    this.options.observe?.(batch.length, ms / 1000, failed);
  }

  private settleIdle(): void {
    if (this.queued > 0 || this.inFlight) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
