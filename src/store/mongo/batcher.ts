// Group commit for one kind of store operation: items wait at most `maxWaitMs` or until `maxOps` are
// queued, then go to the database as one write. At most one batch is in flight: batches are written in
// the order their items were queued, so a process's writes become visible in its accept order (the
// replay reads by sort key and must never find a later message before an earlier one). Items that
// queue while a batch is in flight form the next batch, written as soon as the first one is acked.
import { StoreUnavailableError } from '../store.js';

export interface BatcherOptions<I, R> {
  /** Longest an item waits for company before its batch is written (0: the same event-loop turn). */
  readonly maxWaitMs: number;
  /** Most items in one batch. */
  readonly maxOps: number;
  /** Most items queued (not yet in flight); beyond it `add` rejects at once as unavailable. */
  readonly maxQueued: number;
  /** An item still queued this long after `add` (the store is slow or down) is rejected unwritten. */
  readonly maxQueueWaitMs: number;
  /** Writes one batch; returns one result or Error per item, in order, or throws to fail them all. */
  readonly write: (items: readonly I[]) => Promise<ReadonlyArray<R | Error>>;
  /** Called after every batch with its size, duration and outcome (metrics). */
  readonly observe?: (size: number, seconds: number, failed: boolean) => void;
}

interface Entry<I, R> {
  readonly item: I;
  readonly queuedAt: number;
  resolve(result: R): void;
  reject(error: Error): void;
}

export class Batcher<I, R> {
  private queue: Entry<I, R>[] = [];
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: BatcherOptions<I, R>) {}

  /** Resolves with the item's result once its batch is acknowledged. */
  add(item: I): Promise<R> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(new StoreUnavailableError(`store write queue is full (${this.options.maxQueued} queued)`));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, queuedAt: Date.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Items queued or in flight. */
  get pending(): number {
    return this.queue.length + (this.inFlight ? 1 : 0);
  }

  /** Writes everything queued now and resolves when nothing is queued or in flight. */
  async flush(): Promise<void> {
    if (this.queue.length === 0 && !this.inFlight) return;
    this.clearTimer();
    if (!this.inFlight) this.startNext();
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new items, then writes what is queued. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(): void {
    if (this.inFlight) return; // the in-flight batch starts the next one when it ends
    if (this.queue.length >= this.options.maxOps) {
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

  private startNext(): void {
    const now = Date.now();
    const batch: Entry<I, R>[] = [];
    while (this.queue.length > 0 && batch.length < this.options.maxOps) {
      const entry = this.queue.shift()!;
      if (now - entry.queuedAt > this.options.maxQueueWaitMs) {
        entry.reject(new StoreUnavailableError(`store write waited more than ${this.options.maxQueueWaitMs} ms in the queue`));
      } else {
        batch.push(entry);
      }
    }
    if (batch.length === 0) return this.settleIdle();
    this.inFlight = this.run(batch).finally(() => {
      this.inFlight = undefined;
      if (this.queue.length > 0) this.startNext();
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
    this.options.observe?.(batch.length, (performance.now() - started) / 1000, failed);
  }

  private settleIdle(): void {
    if (this.queue.length > 0 || this.inFlight) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
