// The store side of the offline-push webhook (src/push/). The truth about what needs a push is the
// messages and the per-user delivered cursors already stored: nothing is written per recipient when a
// message is sent (invariant 5). What this adds is the state of each notification once a sweep found
// it due: one row per (recipient, conversation, seq), inserted under a deterministic id, so that the
// insert is the claim (a unique-_id insert is atomic on MongoDB and on FerretDB v1, a conditional
// update is not), plus one small "slot" per (recipient, conversation) for the coalesce window.
// Both implementations pass test/store/push-contract.ts.
import type { StoredMessage } from './store.js';

export type PushStatus = 'pending' | 'sent' | 'dropped';

export interface NewPushNotification {
  /** Deterministic (src/push/notification-id.ts): every instance derives the same id for one notification. */
  readonly id: string;
  readonly userId: string;
  readonly conversationId: string;
  /** The newest undelivered message's seq when the notification was made. */
  readonly seq: number;
  readonly messageId: string;
  readonly from: string;
  /** The message's accept time: the notification expires at ts + PUSH_MAX_AGE_MS. */
  readonly ts: number;
  /** Not before this (ms since the epoch): later than now when the coalesce window defers it. */
  readonly nextAttemptAt: number;
  /** The instance holding it, until `leaseUntil`; 0 leaves it free for whichever instance finds it due. */
  readonly claimedBy: string;
  readonly leaseUntil: number;
  readonly createdAt: number;
}

export interface PushNotification extends NewPushNotification {
  readonly status: PushStatus;
  /** Why it was dropped (delivered, expired, superseded, coalesced, not_member, message_gone, banned). */
  readonly reason: string | null;
  /** POSTs made so far (failed ones, plus the successful one). */
  readonly attempts: number;
  readonly doneAt: number | null;
}

/** Per (recipient, conversation): what was last scheduled and last sent, for the coalesce window. */
export interface PushSlot {
  /** Highest seq a notification was made for (a pending one below it is superseded). */
  readonly lastSeq: number;
  /** When that notification was first due. */
  readonly lastAt: number;
  /** When a push for this conversation last reached the webhook (0: never). */
  readonly lastSentAt: number;
}

/** A position in the (ts, messageId) order of messagesBetween, for paging. */
export interface ScanPosition {
  readonly ts: number;
  readonly messageId: string;
}

export interface PushStore {
  /** Creates what the push queries need (indexes); idempotent, called once the store is started. */
  prepare(): Promise<void>;
  /** Messages with ts in [fromTs, toTs] and strictly after `after` in (ts, messageId) order, ascending, at most `limit`. */
  messagesBetween(fromTs: number, toTs: number, after: ScanPosition | undefined, limit: number): Promise<StoredMessage[]>;
  /**
   * The user's delivered position in a conversation: the highest seq any of their devices confirmed, at
   * least their join seq (MemberState.deliveredSeq). Undefined when the user is not a member.
   */
  deliveredSeq(userId: string, conversationId: string): Promise<number | undefined>;
  /** Inserts the notification as pending with 0 attempts. False when that id exists: another instance (or an earlier sweep) has it. */
  claimNew(notification: NewPushNotification): Promise<boolean>;
  /** Pending notifications with nextAttemptAt ≤ now whose lease ended (leaseUntil ≤ now), soonest first, at most `limit`. */
  due(now: number, limit: number): Promise<PushNotification[]>;
  /**
   * Takes a pending notification over if its lease is still `expectedLeaseUntil` (as read by due()).
   * On MongoDB only one of racing instances wins; on FerretDB v1 both may (a rare double send, which
   * the receiver dedupes by id).
   */
  takeOver(id: string, expectedLeaseUntil: number, owner: string, leaseUntil: number): Promise<boolean>;
  /** After a failed attempt or a deferral: the next attempt time, the attempts so far; the lease is released. */
  reschedule(id: string, attempts: number, nextAttemptAt: number): Promise<void>;
  /** Ends it: sent, or dropped with a reason. */
  finish(id: string, status: 'sent' | 'dropped', reason: string | null, attempts: number, at: number): Promise<void>;
  get(id: string): Promise<PushNotification | undefined>;
  slot(userId: string, conversationId: string): Promise<PushSlot | undefined>;
  /**
   * Raises the slot's lastSeq and lastAt (never lowers them). Like every $max here, on FerretDB v1 a
   * concurrent raise of the same slot can be lost: at worst one extra push inside the coalesce window.
   */
  noteScheduled(userId: string, conversationId: string, seq: number, at: number): Promise<void>;
  /** Raises the slot's lastSentAt. */
  noteSent(userId: string, conversationId: string, at: number): Promise<void>;
  /**
   * The accept time up to which some instance's sweep examined (and claimed from) every message;
   * undefined before the first sweep. A restarted instance resumes there instead of rescanning
   * PUSH_MAX_AGE_MS of messages.
   */
  scanCheckpoint(): Promise<number | undefined>;
  /**
   * Raises the checkpoint (never lowers it below its value before the call). On FerretDB v1 ($max is a
   * read-modify-write) the lower of two concurrent raises can win: a restart then rescans a little more.
   */
  saveScanCheckpoint(ts: number): Promise<void>;
}
