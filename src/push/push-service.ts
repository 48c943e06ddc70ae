// The offline-push webhook: tells a receiver (the operator's push gateway) that a recipient has a
// message none of their devices confirmed within PUSH_AFTER_MS, so it can wake a phone.
//
// Nothing happens on the send path (the webhook can never slow a send) and nothing is written per
// recipient when a message is stored (invariant 5). Instead a sweep on every instance, every
// PUSH_SWEEP_MS:
//   1. scan: reads the messages whose ts just passed PUSH_AFTER_MS (in (ts, messageId) order, from
//      where the last sweep stopped; from now − PUSH_MAX_AGE_MS after a start) and each one's members'
//      delivered positions; for each (recipient, conversation) still behind, the newest such message
//      becomes one notification, claimed by inserting its deterministic id (the first instance wins);
//   2. due: takes over notifications whose retry time came and whose lease ended (released after a
//      failed POST, or held by an instance that died).
// Claimed notifications wait in a bounded queue (PUSH_QUEUE_MAX) for one of PUSH_CONCURRENCY POSTs.
// Right before each POST the store is asked again whether the message was delivered meanwhile.
// Delivery to the webhook is at least once: a failed POST is retried with exponential backoff and
// full jitter until PUSH_MAX_AGE_MS after the message; a crash between a 2xx and its record, or a
// lease race on FerretDB, sends again under the same id, which the receiver dedupes on.
import { randomBytes } from 'node:crypto';
import { exponentialCeiling } from '../backoff.js';
import type { PushConfig } from '../config.js';
import { errorSummary, type Logger } from '../log.js';
import { mapLimited } from '../map-limited.js';
import type { Metrics } from '../metrics/registry.js';
import { isReservedUserId } from '../protocol/ids.js';
import type { PushNotification, PushStore, ScanPosition } from '../store/push-store.js';
import type { MemberState, Store, StoredMessage } from '../store/store.js';
import { payloadOf, pushNotificationId } from './notification.js';
import { postPush } from './webhook.js';

/** Messages read per scan query, and per take-over query. */
const PAGE = 500;
/** Pages per sweep: a backlog (after a restart) is worked through over several sweeps. */
const MAX_PAGES_PER_SWEEP = 20;
/** Newest messages read before a POST to find the latest live one (past deletes and the recipient's own). */
const NEWER_PAGE = 20;
/** A failing webhook is logged at warn at most this often, with the failures counted since the last line. */
const FAILURE_WARN_INTERVAL_MS = 60_000;
/** Store calls in flight at once while claiming (mapLimited). */
const CLAIM_PARALLELISM = 16;

export type PushDropReason = 'delivered' | 'expired' | 'superseded' | 'coalesced' | 'not_member' | 'message_gone' | 'banned' | 'queue_full';

export interface PushServiceDeps {
  readonly push: PushStore;
  readonly store: Pick<Store, 'memberStates' | 'getMessage' | 'history'>;
  readonly config: PushConfig;
  readonly metrics: Metrics;
  readonly log: Logger;
  /**
   * Whether the user is banned now, in this instance's view (src/auth/access-list.ts): a ban stops
   * sockets, HTTP and login, so it stops pushes (and their previews) too. Absent: nobody is.
   */
  readonly banned?: (userId: string) => boolean;
  /** Tells this process's claims apart (claimedBy). */
  readonly instanceId?: string;
  readonly fetch?: typeof fetch;
  readonly random?: () => number;
}

export class PushService {
  readonly instanceId: string;
  private readonly queue: PushNotification[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private readonly log: Logger;
  private position: ScanPosition | undefined;
  /** Where the sweeps (of any instance) had got to when this one started. */
  private resumeFrom: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private stopped = false;
  private lastFailureWarnAt = -Infinity;
  private failuresUnlogged: Partial<Record<string, number>> = {};

  constructor(private readonly deps: PushServiceDeps) {
    this.instanceId = deps.instanceId ?? randomBytes(6).toString('hex');
    this.log = deps.log.child({ component: 'push', instance: this.instanceId });
  }

  /** Prepares the store's indexes and starts sweeping. */
  async start(): Promise<void> {
    await this.deps.push.prepare();
    this.resumeFrom = await this.deps.push.scanCheckpoint();
    const { afterMs, maxAgeMs, coalesceMs, sweepMs, queueMax, concurrency } = this.deps.config;
    // Never the URL (it may hold credentials) nor the secret.
    this.log.info({ afterMs, maxAgeMs, coalesceMs, sweepMs, queueMax, concurrency }, 'push webhook on');
    this.next(0);
  }

  /** Stops sweeping and aborts POSTs in flight; claimed notifications are taken over when their lease ends. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.closing.abort();
    await this.sweeping;
    await Promise.allSettled([...this.running]);
    this.queue.length = 0;
    this.queued.clear();
    this.deps.metrics.pushQueue.set(0);
  }

  /** One sweep now (tests; the timer calls it too). */
  async sweep(now = Date.now()): Promise<void> {
    try {
      await this.scan(now);
      await this.takeDue(now);
    } catch (error) {
      this.log.warn({ err: errorSummary(error) }, 'push sweep failed; the next one retries');
    }
  }

  private next(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.sweeping = this.sweep().finally(() => {
        this.sweeping = undefined;
        this.next(this.deps.config.sweepMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private room(): number {
    return this.deps.config.queueMax - this.queue.length - this.running.size;
  }

  private async scan(now: number): Promise<void> {
    const { afterMs, maxAgeMs } = this.deps.config;
    // Messages at the checkpoint's own ts are examined again: claims make that harmless.
    const fromTs = Math.max(now - maxAgeMs, this.resumeFrom ?? -Infinity);
    const toTs = now - afterMs;
    if (this.position && this.position.ts < fromTs) this.position = undefined;
    const started = this.position;
    for (let page = 0; page < MAX_PAGES_PER_SWEEP && !this.stopped; page++) {
      // Queue full: the rest waits for a later sweep (the position stays), the backlog stays in the store.
      if (this.room() <= 0) break;
      const messages = await this.deps.push.messagesBetween(fromTs, toTs, this.position, PAGE);
      if (messages.length === 0) break;
      await this.consider(messages, now);
      const last = messages[messages.length - 1]!;
      this.position = { ts: last.ts, messageId: last.messageId };
      if (messages.length < PAGE) break;
    }
    // Saved after the claims it covers, once per sweep that moved.
    if (this.position && this.position !== started) await this.deps.push.saveScanCheckpoint(this.position.ts);
  }

  /** For each (recipient, conversation) behind on these messages: one notification, for the newest. */
  private async consider(messages: readonly StoredMessage[], now: number): Promise<void> {
    // One member read per conversation per page, CLAIM_PARALLELISM at a time (a slow read holds back
    // only its own slot, not a whole wave). Stopped: the rest is read as nobody and claimed by no one.
    const members = new Map<string, readonly MemberState[]>();
    const conversationIds = [...new Set(messages.map((message) => message.conversationId))];
    const states = await mapLimited(conversationIds, CLAIM_PARALLELISM, async (conversationId) => (this.stopped ? [] : this.deps.store.memberStates(conversationId)));
    conversationIds.forEach((conversationId, i) => members.set(conversationId, states[i]!));
    const newest = new Map<string, { userId: string; message: StoredMessage }>();
    for (const message of messages) {
      // An edit or delete is not news to push about, and a deleted message is gone.
      if (message.event !== undefined || message.deleted) continue;
      for (const member of members.get(message.conversationId) ?? []) {
        // The server's own ids (`@system`, in a group from before such members were refused) have no device to wake.
        if (member.userId === message.from || member.deliveredSeq >= message.seq || isReservedUserId(member.userId)) continue;
        const key = `${member.userId}\n${message.conversationId}`;
        const known = newest.get(key);
        if (!known || known.message.seq < message.seq) newest.set(key, { userId: member.userId, message });
      }
    }
    await mapLimited([...newest.values()], CLAIM_PARALLELISM, async ({ userId, message }) => {
      if (!this.stopped) await this.claim(userId, message, now);
    });
  }

  private async claim(userId: string, message: StoredMessage, now: number): Promise<void> {
    const { push, config } = this.deps;
    const slot = await push.slot(userId, message.conversationId);
    // Already notified about this message or a newer one, or a push went out after it arrived.
    if (slot && (slot.lastSeq >= message.seq || slot.lastSentAt >= message.ts)) return;
    // One push per (recipient, conversation) per PUSH_COALESCE_MS: a newer message while one is due or
    // in flight waits out the window; by then the earlier push usually covers it (dropped: coalesced).
    const nextAttemptAt = slot ? Math.max(now, Math.max(slot.lastAt, slot.lastSentAt) + config.coalesceMs) : now;
    const notification = {
      id: pushNotificationId(userId, message.conversationId, message.seq),
      userId,
      conversationId: message.conversationId,
      seq: message.seq,
      messageId: message.messageId,
      from: message.from,
      ts: message.ts,
      nextAttemptAt,
      claimedBy: this.instanceId,
      // Deferred by the coalesce window: left free for whichever instance finds it due.
      leaseUntil: nextAttemptAt <= now ? now + config.leaseMs : 0,
      createdAt: now,
    };
    if (!(await push.claimNew(notification))) return;
    await push.noteScheduled(userId, message.conversationId, message.seq, nextAttemptAt);
    if (notification.leaseUntil > 0) this.enqueue({ ...notification, status: 'pending', reason: null, attempts: 0, doneAt: null });
  }

  private async takeDue(now: number): Promise<void> {
    const room = this.room();
    if (room <= 0 || this.stopped) return;
    const { push, config } = this.deps;
    for (const notification of await push.due(now, Math.min(room, PAGE))) {
      if (this.queued.has(notification.id)) continue;
      const leaseUntil = now + config.leaseMs;
      if (await push.takeOver(notification.id, notification.leaseUntil, this.instanceId, leaseUntil)) {
        this.enqueue({ ...notification, claimedBy: this.instanceId, leaseUntil });
      }
    }
  }

  private enqueue(notification: PushNotification): void {
    if (this.room() <= 0 || this.stopped) {
      // Not lost: released in the store, where a later sweep (here or on another instance) takes it.
      this.deps.metrics.pushDropped.inc({ reason: 'queue_full' });
      this.deps.push.reschedule(notification.id, notification.attempts, notification.nextAttemptAt).catch((error) => this.log.warn({ err: errorSummary(error) }, 'push release failed; its lease runs out instead'));
      return;
    }
    this.queue.push(notification);
    this.queued.add(notification.id);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.deps.config.concurrency && this.queue.length > 0) {
      const notification = this.queue.shift()!;
      const attempt: Promise<void> = this.attempt(notification)
        .catch((error) => this.log.warn({ err: errorSummary(error), id: notification.id }, 'push attempt failed in the store; retried when its lease ends'))
        .finally(() => {
          this.running.delete(attempt);
          this.queued.delete(notification.id);
          this.deps.metrics.pushQueue.set(this.queue.length + this.running.size);
          this.pump();
        });
      this.running.add(attempt);
    }
    this.deps.metrics.pushQueue.set(this.queue.length + this.running.size);
  }

  private async attempt(claimed: PushNotification): Promise<void> {
    const { push, store, config, metrics } = this.deps;
    let notification = claimed;
    const now = Date.now();
    const expiresAt = notification.ts + config.maxAgeMs;
    if (now > expiresAt) return this.drop(notification, 'expired');
    // It waited in the queue: make sure the claim still covers one POST, or leave it to whoever took it.
    if (notification.leaseUntil < now + config.timeoutMs) {
      const leaseUntil = now + config.leaseMs;
      if (!(await push.takeOver(notification.id, notification.leaseUntil, this.instanceId, leaseUntil))) return;
      notification = { ...notification, leaseUntil };
    }
    const delivered = await push.deliveredSeq(notification.userId, notification.conversationId);
    if (delivered === undefined) return this.drop(notification, 'not_member');
    if (delivered >= notification.seq) return this.drop(notification, 'delivered');
    if (this.deps.banned?.(notification.userId)) return this.drop(notification, 'banned');
    const slot = await push.slot(notification.userId, notification.conversationId);
    if (slot && slot.lastSeq > notification.seq) return this.drop(notification, 'superseded');
    if (slot && slot.lastSentAt >= notification.ts) return this.drop(notification, 'coalesced');
    if (slot && slot.lastSentAt + config.coalesceMs > now) {
      await push.reschedule(notification.id, notification.attempts, slot.lastSentAt + config.coalesceMs);
      return;
    }
    // The newest live message still undelivered by then (a burst that straddled two sweeps is still one
    // push, about its last message); the id stays the notification's, so every attempt dedupes as one.
    // A newer message deleted meanwhile is skipped, not taken as the news: the claimed one is still unread.
    const message = (await this.newestUndelivered(notification, delivered)) ?? (await store.getMessage(notification.messageId));
    if (!message || message.deleted) return this.drop(notification, 'message_gone');

    const payload = payloadOf(notification.id, notification.userId, message, config.previewChars);
    const result = await postPush({ url: config.webhookUrl, secret: config.secret, timeoutMs: config.timeoutMs }, payload, this.closing.signal, this.deps.fetch);
    const attempts = notification.attempts + 1;
    if (result.ok) {
      // Counted as soon as the receiver took it: a store hiccup in the bookkeeping below does not un-send it.
      metrics.pushSent.inc();
      const at = Date.now();
      await push.finish(notification.id, 'sent', null, attempts, at);
      await push.noteSent(notification.userId, notification.conversationId, at);
      return;
    }
    // Shutting down: not a failure of the webhook; the lease runs out and another instance (or this one restarted) sends it.
    if (result.reason === 'aborted') return;
    metrics.pushFailed.inc({ reason: result.reason });
    const random = this.deps.random ?? Math.random;
    const nextAttemptAt = Date.now() + Math.floor(random() * exponentialCeiling(config.retryBaseMs, config.retryMaxMs, attempts - 1));
    if (nextAttemptAt > expiresAt) return this.drop({ ...notification, attempts }, 'expired');
    await push.reschedule(notification.id, attempts, nextAttemptAt);
    metrics.pushRetried.inc();
    this.noteFailure(result.reason, result.status);
    // Debug: an outage of the receiver would log a line per attempt; chat_push_failed_total shows it.
    this.log.debug({ id: notification.id, attempts, reason: result.reason, status: result.status, retryInMs: nextAttemptAt - Date.now() }, 'push POST failed; retrying');
  }

  /**
   * An operator must see a webhook that keeps failing (a wrong URL, a gateway down) without a line per
   * attempt: the first failure is logged at warn, then at most one line per FAILURE_WARN_INTERVAL_MS
   * with the failures by reason since the last. Never the URL (it may hold a key) nor a payload.
   */
  private noteFailure(reason: string, status: number | undefined): void {
    this.failuresUnlogged[reason] = (this.failuresUnlogged[reason] ?? 0) + 1;
    const now = Date.now();
    if (now - this.lastFailureWarnAt < FAILURE_WARN_INTERVAL_MS) return;
    const reasons = this.failuresUnlogged;
    const failures = Object.values(reasons).reduce((sum = 0, n = 0) => sum + n, 0);
    this.log.warn({ failures, reasons, lastStatus: status, sinceMs: Number.isFinite(this.lastFailureWarnAt) ? now - this.lastFailureWarnAt : undefined }, 'push webhook failing; retrying');
    this.lastFailureWarnAt = now;
    this.failuresUnlogged = {};
  }

  /** The newest message after the claimed one that the recipient should hear about, among the last NEWER_PAGE. */
  private async newestUndelivered(notification: PushNotification, deliveredSeq: number): Promise<StoredMessage | undefined> {
    const { messages } = await this.deps.store.history(notification.conversationId, undefined, NEWER_PAGE);
    for (let i = messages.length - 1; i >= 0; i--) {
      const message = messages[i]!;
      if (message.seq <= notification.seq || message.seq <= deliveredSeq) return undefined;
      if (!message.deleted && message.event === undefined && message.from !== notification.userId) return message;
    }
    return undefined;
  }

  private async drop(notification: PushNotification, reason: Exclude<PushDropReason, 'queue_full'>): Promise<void> {
    await this.deps.push.finish(notification.id, 'dropped', reason, notification.attempts, Date.now());
    this.deps.metrics.pushDropped.inc({ reason });
    if (reason === 'expired') this.log.warn({ id: notification.id, attempts: notification.attempts }, 'push given up: PUSH_MAX_AGE_MS passed');
  }
}
