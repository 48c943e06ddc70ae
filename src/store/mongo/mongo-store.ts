// The production store: MongoDB through the official driver, DB-first and batched. Sends and
// confirmations are grouped (DB_BATCH_MAX_WAIT_MS / DB_BATCH_MAX_OPS) into a few bulk writes per batch,
// one batch in flight per kind; every call resolves only after its batch is acknowledged with the
// write concern of the URI. Mongo is the truth: the per-process caches (heads, message facts, seen
// devices, device cursors) hold only what can never become wrong, or what a unique index or a
// conditional write double-checks.
// Data model, indexes, seq assignment and the FerretDB caveats: docs/store.md.
import { randomBytes } from 'node:crypto';
import { MongoAccessStore } from './mongo-access.js';
import { DeviceCursorCache } from './device-cursor-cache.js';
import { findByIds, type IdLookup } from './find-by-ids.js';
import type { Db, Filter, UpdateFilter } from 'mongodb';
import { mongoDbName } from '../../config.js';
import { errorSummary, silentLogger, type Logger } from '../../log.js';
import type { Metrics } from '../../metrics/registry.js';
import {
  DEFAULT_MAX_DEVICES_PER_USER,
  type DeviceBound,
  StoreUnavailableError,
  type ConfirmResult,
  type Conversation,
  type ConversationListItem,
  type ConversationPage,
  type Cursor,
  type DeliveryState,
  type HistoryPage,
  type Membership,
  type MembershipChange,
  type MemberState,
  type NewGroup,
  type GroupCreation,
  type NewMessage,
  type PersistResult,
  type ReplayTarget,
  type SenderGate,
  type SeqRange,
  type Store,
  type StoreCounts,
  type StoredMessage,
} from '../store.js';
import { Batcher } from './batcher.js';
import { writeConfirmBatch, MessageFacts, type ConfirmRequest } from './confirm-batch.js';
import { DEFAULT_START_RETRY, type StartRetry } from './connect.js';
import { KeyedLock } from '../../lock.js';
import { DeviceSightings } from './device-sightings.js';
import {
  CURSOR_PROJECTION,
  deviceCursorId,
  MESSAGE_PROJECTION,
  membershipId,
  receiptId,
  toCursor,
  toStoredMessage,
  userCursorId,
  type Collections,
  type MessageDoc,
} from './documents.js';
import { deliveredWatermark, EMPTY_CURSOR } from '../cursor.js';
import { HeadCache } from './heads.js';
import * as membership from './membership.js';
import { ConversationReads } from './conversation-reads.js';
import { writePersistBatch } from './persist-batch.js';
import { MongoPushStore } from './mongo-push.js';
import type { PushStore } from '../push-store.js';
import { StoreConnection } from './store-connection.js';

export interface MongoStoreOptions extends DeviceBound {
  /** mongodb:// or mongodb+srv:// URI; its write concern (w, journal) applies to every batch. */
  readonly uri: string;
  /** Default: the URI path, `chat` when empty. */
  readonly dbName?: string;
  /** Bound on every driver wait (server selection, socket, pool) and on a write's time in the queue. */
  readonly opTimeoutMs: number;
  readonly batch: { readonly maxWaitMs: number; readonly maxOps: number; readonly maxOpsPerUser?: number };
  /** Bound on each per-process cache (conversation heads, message facts, seen devices, device cursors). */
  readonly cursorCacheMax: number;
  /** Most operations queued per kind behind the one in flight (default 64 batches' worth). */
  readonly maxQueued?: number;
  readonly startRetry?: Partial<StartRetry>;
  readonly log?: Logger;
  readonly metrics?: Metrics;
  /**
   * The query shapes for sets of ids and conversations (find-by-ids.ts): detected at start (`in` on
   * MongoDB, `each` on FerretDB v1, which scans a collection for an `$in`). Tests set `in` to run
   * MongoDB's shapes against FerretDB.
   */
  readonly idLookup?: IdLookup;
}

export class MongoStore implements Store {
  readonly kind = 'mongo' as const;
  readonly access = new MongoAccessStore(() => this.database());
  /** Tells this process's writes apart in `insertedBy` / `markedBy` (and in logs). */
  readonly instanceId = randomBytes(6).toString('hex');
  private readonly log: Logger;
  private readonly heads: HeadCache;
  private readonly facts: MessageFacts;
  private readonly devices: DeviceSightings;
  private readonly deviceCursors: DeviceCursorCache;
  /** Cursor steps per user (cursors.ts): one user's steps run one at a time, other users' beside them. */
  private readonly cursorLocks = new KeyedLock();
  private readonly persistBatcher: Batcher<NewMessage, PersistResult>;
  private readonly confirmBatcher: Batcher<ConfirmRequest, ConfirmResult>;
  private readonly connection: StoreConnection;
  private starting: Promise<void> | undefined;
  private closed = false;
  private tokens = 0;
  private persists = 0;
  private deliveryMarks = 0;
  private collisions = 0;
  private gate: SenderGate | undefined;
  readonly push: PushStore;

  constructor(private readonly options: MongoStoreOptions) {
    this.log = (options.log ?? silentLogger()).child({ component: 'mongo-store', instance: this.instanceId });
    this.connection = new StoreConnection(options.uri, options.dbName ?? mongoDbName(options.uri), options.opTimeoutMs, this.log, options.metrics, options.idLookup);
    this.heads = new HeadCache(options.cursorCacheMax, () => this.ready().messages);
    this.facts = new MessageFacts(options.cursorCacheMax);
    this.deviceCursors = new DeviceCursorCache(options.cursorCacheMax);
    this.devices = new DeviceSightings(options.cursorCacheMax, options.maxDevicesPerUser ?? DEFAULT_MAX_DEVICES_PER_USER, this.deviceCursors, options.onDeviceForgotten);
    this.push = new MongoPushStore(() => this.connection.db, options.opTimeoutMs);
    const maxQueued = options.maxQueued ?? options.batch.maxOps * 64;
    const common = { maxWaitMs: options.batch.maxWaitMs, maxOps: options.batch.maxOps, maxOpsPerKey: options.batch.maxOpsPerUser, maxQueued, maxQueueWaitMs: options.opTimeoutMs };
    const context = () => ({ collections: this.ready(), heads: this.heads, cursorLocks: this.cursorLocks, devices: this.devices, deviceCursors: this.deviceCursors, facts: this.facts, nextToken: () => this.nextToken(), onSeqCollision: () => this.collisions++, gate: this.gate });
    // Fair per user: a sender's or a confirmer's backlog only delays that user.
    this.persistBatcher = new Batcher<NewMessage, PersistResult>({
      ...common,
      recheckWhileInFlight: true,
      keyOf: (message) => message.from,
      write: (batch) => this.guard('persist', () => writePersistBatch(context(), batch)),
      observe: (size, seconds, failed) => this.observe('persist', size, seconds, failed),
      onShed: (reason) => options.metrics?.storeShed.inc({ op: 'persist', reason }),
    });
    this.confirmBatcher = new Batcher<ConfirmRequest, ConfirmResult>({
      ...common,
      keyOf: (request) => request.userId,
      // A user's share of a batch counted in ids: one 1000-id frame fills it, so a flooder's burst of
      // such frames goes one per batch instead of all in one (test/reliability/confirmation-flood.test.ts).
      weightOf: (request) => (request.kind === 'ids' ? request.messageIds.length : 1),
      write: (batch) => this.guard('confirm', () => writeConfirmBatch(context(), batch)),
      observe: (size, seconds, failed) => this.observe('confirm', size, seconds, failed),
      onShed: (reason) => options.metrics?.storeShed.inc({ op: 'confirm', reason }),
    });
  }

  /** Connects (retrying with backoff while Mongo is unreachable) and creates the indexes. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    return (this.starting ??= this.connection.connect({ ...DEFAULT_START_RETRY, ...this.options.startRetry }));
  }

  async ping(): Promise<void> {
    await this.connection.db.command({ ping: 1 });
  }

  /** Writes every queued batch, then closes the client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.persistBatcher.close(), this.confirmBatcher.close()]);
    // Closing the connection first stops a start still retrying; then that start is awaited.
    await this.connection.close();
    await this.starting?.catch(() => {});
  }

  // Messages.

  async persist(message: NewMessage): Promise<PersistResult> {
    this.ready();
    const result = await this.persistBatcher.add(message);
    if (result.kind === 'created') {
      this.persists++;
      this.noteFacts(result.message);
    }
    return result;
  }

  admitSenders(gate: SenderGate): void {
    this.gate = gate;
  }

  learn(message: StoredMessage): void {
    this.noteFacts(message);
    this.heads.note(message.conversationId, message.seq);
  }

  async messagesIn(ranges: readonly SeqRange[]): Promise<StoredMessage[][]> {
    return (await this.reads().messagesIn(ranges)).map((messages) => messages.map((message) => this.noteFacts(message)));
  }

  async history(conversationId: string, before: number | undefined, limit: number, after?: number): Promise<HistoryPage> {
    if (limit <= 0) return { messages: [], hasMore: false };
    // Backwards (the newest first, then reversed) unless paging forward from `after`.
    const forward = after !== undefined;
    const docs = await this.ready()
      .messages.find(historyFilter(conversationId, before, after), { projection: MESSAGE_PROJECTION, sort: { seq: forward ? 1 : -1 }, limit: limit + 1, maxTimeMS: this.options.opTimeoutMs })
      .toArray();
    const hasMore = docs.length > limit;
    const page = docs.slice(0, limit);
    return { messages: (forward ? page : page.reverse()).map(toStoredMessage), hasMore };
  }

  async getMessage(messageId: string): Promise<StoredMessage | undefined> {
    const doc = await this.ready().messages.findOne({ _id: messageId }, { projection: MESSAGE_PROJECTION, maxTimeMS: this.options.opTimeoutMs });
    return doc ? toStoredMessage(doc) : undefined;
  }

  async applyEvent(event: StoredMessage): Promise<StoredMessage | undefined> {
    if (!event.event) return this.getMessage(event.messageId);
    const { target, kind } = event.event;
    // The highest seq wins and a delete is final. Concurrent edits of one message are rare, and on a
    // server without atomic conditional updates (FerretDB v1) the later-seq retry settles them.
    const filter: Filter<MessageDoc> = { _id: target, deleted: { $ne: true }, $or: [{ appliedSeq: { $exists: false } }, { appliedSeq: { $lt: event.seq } }] };
    const update: UpdateFilter<MessageDoc> =
      kind === 'deleted'
        ? { $set: { body: '', deleted: true, appliedSeq: event.seq }, $unset: { editedAt: '' } }
        : { $set: { body: event.body, editedAt: event.ts, appliedSeq: event.seq } };
    const { messages } = this.ready();
    await messages.updateOne(filter, update, { maxTimeMS: this.options.opTimeoutMs });
    const message = await this.getMessage(target);
    if (message?.deleted) {
      // A deleted text is never replayed: its edit events keep their seq and lose their bodies. Run on
      // every apply to a deleted target, so an edit stored in a race with the delete, or a retry after
      // a crash between these two writes, is emptied too.
      // MongoDB finds them by the by_target index (a point, where conversation_seq's range is every
      // message since the target); the range stays for FerretDB v1, which pushes only it down.
      const edits: Filter<MessageDoc> = { conversationId: message.conversationId, seq: { $gt: message.seq }, target, event: 'edited', body: { $ne: '' } };
      await messages.updateMany(edits, { $set: { body: '' } }, { maxTimeMS: this.options.opTimeoutMs });
    }
    return message;
  }

  // Conversations and membership.

  createGroup(group: NewGroup): Promise<GroupCreation> {
    return membership.createGroup(this.ready(), group);
  }

  getConversation(conversationId: string): Promise<Conversation | undefined> {
    return membership.conversationView(this.ready(), conversationId);
  }

  async membership(conversationId: string, userId: string): Promise<Membership | undefined> {
    const doc = await this.ready().memberships.findOne({ _id: membershipId(conversationId, userId) });
    return doc ? membership.toMembership(doc) : undefined;
  }

  addMembers(conversationId: string, userIds: readonly string[], at: number): Promise<MembershipChange | undefined> {
    return membership.addMembers(this.ready(), this.heads, conversationId, userIds, at);
  }

  removeMember(conversationId: string, userId: string): Promise<MembershipChange | undefined> {
    return membership.removeMember(this.ready(), conversationId, userId);
  }

  setTitle(conversationId: string, title: string): Promise<Conversation | undefined> {
    return membership.setTitle(this.ready(), conversationId, title);
  }

  listConversations(userId: string, limit: number, cursor: string | undefined): Promise<ConversationPage> {
    return this.reads().listConversations(userId, limit, cursor);
  }

  conversationItem(conversationId: string, userId: string): Promise<ConversationListItem | undefined> {
    return this.reads().conversationItem(conversationId, userId);
  }

  async conversationIdsOf(userId: string): Promise<string[]> {
    return (await this.reads().membershipsOf(userId)).map((doc) => doc.conversationId);
  }

  groupCounts(userIds: readonly string[], atMost: number): Promise<number[]> {
    return membership.groupCounts(this.ready(), userIds, atMost);
  }

  // Delivery.

  /**
   * A device's first act may be this: its first sight copies its user's cursors. Whether it was seen is
   * read each time, not taken from the cache (device-sightings.ts), beside the reads: a known device
   * (nearly always) costs no extra round trip; a new one is read again after its copy.
   */
  async replayTargets(userId: string, deviceId: string): Promise<ReplayTarget[]> {
    const collections = this.ready();
    const [known, targets] = await Promise.all([this.devices.connected(collections, userId, deviceId), this.reads().replayTargets(userId, deviceId)]);
    if (known) return targets;
    await this.cursorLocks.run(userId, () => this.devices.ensure(collections, [{ userId, deviceId }], true));
    return this.reads().replayTargets(userId, deviceId);
  }

  async confirmIds(userId: string, deviceId: string, messageIds: readonly string[]): Promise<ConfirmResult> {
    this.ready();
    return this.counted(await this.confirmBatcher.add({ kind: 'ids', userId, deviceId, messageIds: [...messageIds] }));
  }

  async confirmUpTo(userId: string, deviceId: string, conversationId: string, seq: number): Promise<ConfirmResult> {
    this.ready();
    return this.counted(await this.confirmBatcher.add({ kind: 'upTo', userId, deviceId, conversationId, seq }));
  }

  /**
   * `$max`: monotone in one atomic update on MongoDB. FerretDB v1 applies it as a read-modify-write,
   * so two concurrent marks of one user in one conversation can leave the lower one (docs/store.md).
   */
  async markRead(userId: string, conversationId: string, seq: number): Promise<{ readonly readSeq: number; readonly advanced: boolean } | undefined> {
    const { memberships } = this.ready();
    const id = membershipId(conversationId, userId);
    const doc = await memberships.findOne({ _id: id }, { projection: { readSeq: 1, joinSeq: 1 } });
    if (!doc) return undefined;
    const previous = Number(doc.readSeq ?? doc.joinSeq);
    const wanted = Math.min(seq, await this.heads.atLeast(conversationId, seq));
    if (wanted <= previous) return { readSeq: previous, advanced: false };
    await memberships.updateMany({ _id: id, conversationId }, { $max: { readSeq: wanted } });
    return { readSeq: wanted, advanced: true };
  }

  // Inspection.

  async deliveryState(messageId: string, recipient: string): Promise<DeliveryState | undefined> {
    const { memberships, receipts } = this.ready();
    const message = (await this.facts.load(this.ready(), [messageId])).get(messageId);
    if (!message || message.from === recipient) return undefined;
    const [joined, receipt] = await Promise.all([
      memberships.findOne({ _id: membershipId(message.conversationId, recipient) }, { projection: { joinSeq: 1 } }),
      receipts.findOne({ _id: receiptId(recipient, messageId) }, { projection: { deliveredAt: 1 } }),
    ]);
    if (!joined || message.seq <= Number(joined.joinSeq)) return undefined;
    return receipt ? { status: 'delivered', deliveredAt: Number(receipt.deliveredAt), marks: 1 } : { status: 'pending', deliveredAt: undefined, marks: 0 };
  }

  async memberStates(conversationId: string): Promise<MemberState[]> {
    const collections = this.ready();
    const timeout = { maxTimeMS: this.options.opTimeoutMs };
    const members = await collections.memberships
      .find({ conversationId }, { projection: { userId: 1, joinSeq: 1, readSeq: 1 }, sort: { joinedAt: 1, pos: 1, _id: 1 }, ...timeout })
      .toArray();
    // The members' cursors in one `$in` on MongoDB; on FerretDB v1 (which scans for an `$in`), one _id
    // read each unless the collection is small (find-by-ids.ts). Callers bound the group size.
    const cursorIds = members.map((member) => userCursorId(member.userId, conversationId));
    const cursors = new Map((await findByIds(collections.userCursors, collections.idLookup, cursorIds, CURSOR_PROJECTION, timeout)).map((doc) => [doc._id, doc]));
    return members.map((member, i) => ({
      userId: member.userId,
      deliveredSeq: deliveredWatermark(toCursor(cursors.get(cursorIds[i]!) ?? null) ?? EMPTY_CURSOR, Number(member.joinSeq)),
      readSeq: Number(member.readSeq ?? member.joinSeq),
    }));
  }

  async deviceCursor(userId: string, deviceId: string, conversationId: string): Promise<Cursor | undefined> {
    return toCursor(await this.ready().deviceCursors.findOne({ _id: deviceCursorId(userId, deviceId, conversationId) }, { projection: CURSOR_PROJECTION }));
  }

  async counts(): Promise<StoreCounts> {
    const { messages, receipts } = this.ready();
    const [messageCount, recipients, delivered] = await Promise.all([
      messages.countDocuments({}),
      messages.aggregate<{ total: number }>([{ $group: { _id: null, total: { $sum: '$recipients' } } }]).toArray(),
      receipts.countDocuments({}),
    ]);
    return { messages: messageCount, deliveries: Number(recipients[0]?.total ?? 0), delivered, persists: this.persists, deliveryMarks: this.deliveryMarks };
  }

  /** The connected database (after start()): accounts live in it too, on the same client. */
  database(): Db {
    return this.connection.db;
  }

  /** Seqs this process found taken by another (its cached head was stale) and assigned again. */
  get seqCollisions(): number {
    return this.collisions;
  }

  private counted(result: ConfirmResult): ConfirmResult {
    this.deliveryMarks += result.marks.length;
    return result;
  }

  private noteFacts(message: StoredMessage): StoredMessage {
    this.facts.note({ messageId: message.messageId, conversationId: message.conversationId, seq: message.seq, from: message.from, ...(message.fromDevice !== undefined ? { fromDevice: message.fromDevice } : {}), ts: message.ts });
    return message;
  }

  private reads(): ConversationReads {
    return new ConversationReads(this.ready(), this.heads, this.options.opTimeoutMs);
  }

  private ready(): Collections {
    return this.connection.collections;
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

  private observe(op: 'persist' | 'confirm', size: number, seconds: number, failed: boolean): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    metrics.storeBatchSize.series(op).observe(size);
    metrics.storeBatchLatency.series(op).observe(seconds);
    if (failed) metrics.storeErrors.inc({ op: `${op}_batch` });
  }
}

/** The history query: exported so a test can ask the server to explain it. */
export function historyFilter(conversationId: string, before: number | undefined, after?: number): Filter<MessageDoc> {
  if (before === undefined && after === undefined) return { conversationId, event: { $exists: false } };
  const seq = { ...(before !== undefined ? { $lt: before } : {}), ...(after !== undefined ? { $gt: after } : {}) };
  return { conversationId, seq, event: { $exists: false } };
}
