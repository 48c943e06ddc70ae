// The production store: MongoDB through the official driver, DB-first and batched. Sends and
// confirmations are grouped (DB_BATCH_MAX_WAIT_MS / DB_BATCH_MAX_OPS) into one bulk write per batch,
// one batch in flight per kind; every call resolves only after its batch is acknowledged with the
// write concern of the URI. Mongo is the truth; the cursor cache only skips provably redundant work.
// Layout, indexes, batching and the cache's reasoning: docs/store.md.
import { randomBytes } from 'node:crypto';
import type { Db, MongoClient } from 'mongodb';
import { mongoDbName } from '../../config.js';
import { errorSummary, silentLogger, uriForLogs, type Logger } from '../../log.js';
import type { Metrics } from '../../metrics/registry.js';
import { DeliveryCursorCache } from '../cursor-cache.js';
import {
  StoreUnavailableError,
  type DeliveryMark,
  type DeliveryState,
  type NewMessage,
  type PendingPage,
  type PersistResult,
  type Store,
  type StoreCounts,
  type StoredMessage,
} from '../store.js';
import { Batcher } from './batcher.js';
import { clientOptions, connectWithRetry, DEFAULT_START_RETRY, type StartRetry } from './connect.js';
import { collectionsOf, deliveryId, MESSAGE_PROJECTION, toStoredMessage, type Collections } from './documents.js';
import { ensureIndexes } from './indexes.js';
import { writeMarkBatch, type MarkRequest } from './mark-batch.js';
import { writePersistBatch } from './persist-batch.js';

export interface MongoStoreOptions {
  /** mongodb:// or mongodb+srv:// URI; its write concern (w, journal) applies to every batch. */
  readonly uri: string;
  /** Default: the URI path, `chat` when empty. */
  readonly dbName?: string;
  /** Bound on every driver wait (server selection, socket, pool) and on a write's time in the queue. */
  readonly opTimeoutMs: number;
  readonly batch: { readonly maxWaitMs: number; readonly maxOps: number; readonly maxOpsPerUser?: number };
  readonly cursorCacheMax: number;
  /** Most operations queued per kind behind the one in flight (default 64 batches' worth). */
  readonly maxQueued?: number;
  readonly startRetry?: Partial<StartRetry>;
  readonly log?: Logger;
  readonly metrics?: Metrics;
}

export class MongoStore implements Store {
  readonly kind = 'mongo' as const;
  /** Tells this process's writes apart in `insertedBy` / `markedBy` (and in logs). */
  readonly instanceId = randomBytes(6).toString('hex');
  private readonly log: Logger;
  private readonly cache: DeliveryCursorCache;
  private readonly persistBatcher: Batcher<NewMessage, PersistResult>;
  private readonly markBatcher: Batcher<MarkRequest, DeliveryMark | null>;
  private client: MongoClient | undefined;
  private db: Db | undefined;
  private collections: Collections | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  private tokens = 0;
  private persists = 0;
  private deliveryMarks = 0;

  constructor(private readonly options: MongoStoreOptions) {
    this.log = (options.log ?? silentLogger()).child({ component: 'mongo-store', instance: this.instanceId });
    this.cache = new DeliveryCursorCache(options.cursorCacheMax);
    const maxQueued = options.maxQueued ?? options.batch.maxOps * 64;
    const common = { maxWaitMs: options.batch.maxWaitMs, maxOps: options.batch.maxOps, maxOpsPerKey: options.batch.maxOpsPerUser, maxQueued, maxQueueWaitMs: options.opTimeoutMs };
    // Fair per user: a sender's or a confirmer's backlog only delays that user.
    this.persistBatcher = new Batcher<NewMessage, PersistResult>({
      ...common,
      keyOf: (message) => message.from,
      write: (batch) => this.guard('persist', () => writePersistBatch({ collections: this.ready(), nextToken: () => this.nextToken() }, batch)),
      observe: (size, seconds, failed) => this.observe('persist', size, seconds, failed),
      onShed: (reason) => options.metrics?.storeShed.inc({ op: 'persist', reason }),
    });
    this.markBatcher = new Batcher<MarkRequest, DeliveryMark | null>({
      ...common,
      keyOf: (request) => request.userId,
      write: (batch) => this.guard('mark', () => writeMarkBatch({ collections: this.ready(), cache: this.cache, nextToken: () => this.nextToken() }, batch)),
      observe: (size, seconds, failed) => this.observe('markDelivered', size, seconds, failed),
      onShed: (reason) => options.metrics?.storeShed.inc({ op: 'markDelivered', reason }),
    });
  }

  /** Connects (retrying with backoff while Mongo is unreachable) and creates the indexes. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    return (this.starting ??= this.connect());
  }

  async persist(message: NewMessage): Promise<PersistResult> {
    this.ready();
    const result = await this.persistBatcher.add(message);
    if (result.kind === 'created') {
      this.persists++;
      this.cache.notePending(message.to, message.messageId, { from: message.from, ts: message.ts });
    }
    return result;
  }

  async pendingFor(userId: string, after: number | undefined, limit: number): Promise<PendingPage> {
    const { deliveries, messages } = this.ready();
    const take = Math.max(1, limit);
    const base = { to: userId, status: 'pending' as const };
    const timeout = { maxTimeMS: this.options.opTimeoutMs };
    const range = after === undefined ? base : { ...base, seq: { $gt: after } };
    const entries = await deliveries
      .find(range, { projection: { _id: 0, messageId: 1, seq: 1 }, sort: { seq: 1, _id: 1 }, limit: take + 1, ...timeout })
      .toArray();
    let page = entries;
    let next: number | undefined;
    if (entries.length > take) {
      page = entries.slice(0, take);
      const lastSeq = page[take - 1]!.seq;
      if (entries[take]!.seq === lastSeq) {
        // `next` is a sort key, and two instances can hand out the same key: entries sharing one must
        // not straddle a page. End the page before them, or, if they fill it, return them all
        // (at most one per instance: keys are unique within a process).
        const before = page.filter((entry) => entry.seq !== lastSeq);
        page = before.length > 0
          ? before
          : await deliveries.find({ ...base, seq: lastSeq }, { projection: { _id: 0, messageId: 1, seq: 1 }, sort: { _id: 1 }, ...timeout }).toArray();
      }
      next = page[page.length - 1]!.seq;
    }
    if (page.length === 0) return { messages: [], next: undefined };

    // `to` is implied by the ids; it lets FerretDB v1 narrow the read (it scans for `_id: {$in}` alone).
    const ids = page.map((entry) => entry.messageId);
    const docs = await messages.find({ to: userId, _id: { $in: ids } }, { projection: MESSAGE_PROJECTION, ...timeout }).toArray();
    const byId = new Map(docs.map((doc) => [doc._id, toStoredMessage(doc)]));
    const listed: StoredMessage[] = [];
    for (const entry of page) {
      const message = byId.get(entry.messageId);
      if (!message) {
        this.log.error({ messageId: entry.messageId, to: userId }, 'delivery entry without its message; skipped');
        continue;
      }
      listed.push(message);
      this.cache.notePending(userId, message.messageId, { from: message.from, ts: message.ts });
    }
    return { messages: listed, next };
  }

  async markDelivered(userId: string, messageIds: readonly string[]): Promise<DeliveryMark[]> {
    this.ready();
    // Already delivered (terminal, whoever marked it): no write. Repeats within the call: one write.
    const wanted = [...new Set(messageIds)].filter((messageId) => !this.cache.isDelivered(userId, messageId));
    const settled = await Promise.allSettled(wanted.map((messageId) => this.markBatcher.add({ userId, messageId })));
    const marks: DeliveryMark[] = [];
    let failure: unknown;
    for (const outcome of settled) {
      if (outcome.status === 'rejected') failure ??= outcome.reason;
      else if (outcome.value) marks.push(outcome.value);
    }
    this.deliveryMarks += marks.length;
    if (failure !== undefined) {
      // Marks already made stand (exactly once) and get their DELIVERED acks; the rest stay pending
      // and are replayed and confirmed again. With nothing marked the caller learns of the failure.
      if (marks.length === 0) throw failure;
      this.log.warn({ err: errorSummary(failure), marked: marks.length, asked: wanted.length }, 'some confirmations failed; they stay pending');
    }
    return marks;
  }

  async ping(): Promise<void> {
    if (!this.db) throw new StoreUnavailableError(this.closed ? 'store is closed' : 'store not connected yet');
    await this.db.command({ ping: 1 });
  }

  /** Writes every queued batch, then closes the client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.persistBatcher.close(), this.markBatcher.close()]);
    await this.starting?.catch(() => {});
    const client = this.client;
    this.client = undefined;
    this.db = undefined;
    this.collections = undefined;
    await client?.close();
  }

  async getMessage(messageId: string): Promise<StoredMessage | undefined> {
    const doc = await this.ready().messages.findOne({ _id: messageId }, { projection: MESSAGE_PROJECTION });
    return doc ? toStoredMessage(doc) : undefined;
  }

  async deliveryState(messageId: string, recipient: string): Promise<DeliveryState | undefined> {
    const { deliveries, receipts } = this.ready();
    const id = deliveryId(recipient, messageId);
    const [entry, receipt] = await Promise.all([
      deliveries.findOne({ _id: id, to: recipient }, { projection: { status: 1, deliveredAt: 1, marks: 1 } }),
      receipts.findOne({ _id: id }, { projection: { deliveredAt: 1 } }),
    ]);
    if (!entry) return undefined;
    // The receipt is the truth of the mark; the entry's status follows it (see mark-batch.ts).
    if (receipt) return { status: 'delivered', deliveredAt: Number(receipt.deliveredAt), marks: 1 };
    return { status: entry.status, deliveredAt: entry.deliveredAt ?? undefined, marks: entry.marks };
  }

  async counts(): Promise<StoreCounts> {
    const { messages, deliveries, receipts } = this.ready();
    const [messageCount, deliveryCount, delivered] = await Promise.all([
      messages.countDocuments({}),
      deliveries.countDocuments({}),
      receipts.countDocuments({}),
    ]);
    return { messages: messageCount, deliveries: deliveryCount, delivered, persists: this.persists, deliveryMarks: this.deliveryMarks };
  }

  /** The connected database (after start()): accounts live in it too, on the same client. */
  database(): Db {
    if (!this.db) throw new StoreUnavailableError(this.closed ? 'store is closed' : 'store not connected yet');
    return this.db;
  }

  /** Users in the cursor cache (tests and metrics). */
  get cachedUsers(): number {
    return this.cache.size;
  }

  private async connect(): Promise<void> {
    const dbName = this.options.dbName ?? mongoDbName(this.options.uri);
    const retry = { ...DEFAULT_START_RETRY, ...this.options.startRetry };
    let prepared: Collections | undefined;
    this.log.info({ target: uriForLogs(this.options.uri), db: dbName }, 'connecting to MongoDB');
    const client = await connectWithRetry(
      this.options.uri,
      clientOptions(this.options.opTimeoutMs),
      async (candidate) => {
        const db = candidate.db(dbName);
        await db.command({ ping: 1 });
        prepared = collectionsOf(db);
        await ensureIndexes(prepared);
      },
      retry,
      this.log,
      () => this.closed,
    );
    if (this.closed) {
      await client.close();
      throw new StoreUnavailableError('store closed while starting');
    }
    this.client = client;
    this.db = client.db(dbName);
    this.collections = prepared;
    this.log.info({ db: dbName }, 'MongoDB connected; indexes ready');
  }

  private ready(): Collections {
    if (this.collections) return this.collections;
    throw new StoreUnavailableError(this.closed ? 'store is closed' : 'store not connected yet');
  }

  private nextToken(): string {
    return `${this.instanceId}:${(++this.tokens).toString(36)}`;
  }

  /** Driver errors become StoreUnavailableError ("not stored; retry later"), keeping the cause. */
  private async guard<T>(op: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      this.log.warn({ op, err: errorSummary(error) }, 'store batch failed');
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`MongoDB ${op} batch failed: ${(error as Error).message}`, { cause: error });
    }
  }

  private observe(op: 'persist' | 'markDelivered', size: number, seconds: number, failed: boolean): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    metrics.storeBatchSize.observe({ op }, size);
    metrics.storeBatchLatency.observe({ op }, seconds);
    if (failed) metrics.storeErrors.inc({ op: `${op}_batch` });
  }
}
