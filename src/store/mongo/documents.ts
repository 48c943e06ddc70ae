// The collections and their documents (docs/store.md has the why).
//
// messages:      one document per message, keyed by the client's messageId, inserted once, changed
//                only by an edit or delete event (which is itself a document here, with its own seq);
//                unique (conversationId, seq) makes seq gapless-and-unique enforceable by inserts.
// conversations: one per conversation (kind, title, owner). Written at creation, rename, owner change.
// memberships:   one per (conversation, member): join point and read watermark.
// userCursors:   one per (user, conversation): what at least one of the user's devices confirmed.
// deviceCursors: one per (user, device, conversation): what that device confirmed.
// devices:       one per (user, device): inserted at the device's first act (first sight).
// receipts:      one per (recipient, message) delivered. Inserting it is the delivery mark: a unique-key
//                insert is atomic on every server (a conditional update is not on FerretDB v1).
//
// Ids join their parts with "/": user, device and conversation ids never contain it
// (src/protocol/ids.ts), so every id splits one way only.
import type { IdLookup } from './find-by-ids.js';
import type { Collection, Db } from 'mongodb';
import { EMPTY_CURSOR, MAX_GAPS, runsOf, seqsOf, union } from '../cursor.js';
import type { ConversationKind, Cursor, MessageEventKind, StoredMessage } from '../store.js';

export interface MessageDoc {
  _id: string;
  conversationId: string;
  seq: number;
  from: string;
  fromDevice?: string;
  to?: string;
  body: string;
  /** Accept time, ms since the epoch. */
  ts: number;
  /** Members but the sender when it was stored: `counts().deliveries` (inspection only). */
  recipients: number;
  /** The persist batch that inserted it (`<instance>:<batch>`): provenance for operators. */
  insertedBy: string;
  /** An edit or delete event: what it does, and to which message. */
  event?: MessageEventKind;
  target?: string;
  /** A message: the accept time of its latest applied edit. */
  editedAt?: number;
  /** A message that was deleted (its body is ''). */
  deleted?: boolean;
  /** A message: the seq of the last event applied to it (the highest seq wins). */
  appliedSeq?: number;
}

export interface ConversationDoc {
  _id: string;
  kind: ConversationKind;
  title: string | null;
  ownerId: string | null;
  createdAt: number;
  /** A group created with an Idempotency-Key: the digest of what its request asked for (NewGroup). */
  requestDigest?: string;
}

export interface MembershipDoc {
  /** `<conversationId>/<userId>`. */
  _id: string;
  conversationId: string;
  userId: string;
  joinedAt: number;
  /** Position in the call that added it: members added together keep their order. */
  pos: number;
  joinSeq: number;
  readSeq: number;
}

export interface CursorDoc {
  /** `<userId>/<conversationId>` (user cursors) or `<userId>/<deviceId>/<conversationId>` (device cursors). */
  _id: string;
  userId: string;
  deviceId?: string;
  conversationId: string;
  upTo: number;
  /** Covered seqs above `upTo` as runs (cursor.ts), since 2026-12-07. */
  runs?: number[];
  /**
   * The same, one seq each (at most MAX_GAPS): the only form before runs, still written for an
   * instance from before them during a rolling upgrade, and read when `runs` is absent.
   */
  above?: number[];
  /** Written with each change, unique per write: a write applies only over the version it read (cursors.ts). Absent on documents written before it. */
  v?: string;
}

export interface DeviceDoc {
  /** `<userId>/<deviceId>`. */
  _id: string;
  userId: string;
  deviceId: string;
  firstSeen: number;
  /** Moved on connect, at most hourly (device-sightings.ts); absent on documents written before it. */
  lastSeen?: number;
}

export interface ReceiptDoc {
  /** `<userId>/<messageId>`. */
  _id: string;
  userId: string;
  messageId: string;
  conversationId: string;
  seq: number;
  from: string;
  ts: number;
  deliveredAt: number;
  /** The confirmation batch that inserted it (`<instance>:<batch>`). */
  markedBy: string;
}

export interface Collections {
  readonly messages: Collection<MessageDoc>;
  readonly conversations: Collection<ConversationDoc>;
  readonly memberships: Collection<MembershipDoc>;
  readonly userCursors: Collection<CursorDoc>;
  readonly deviceCursors: Collection<CursorDoc>;
  readonly devices: Collection<DeviceDoc>;
  readonly receipts: Collection<ReceiptDoc>;
  /** How reads by a set of _ids are made on this server (find-by-ids.ts). */
  readonly idLookup: IdLookup;
}

export function collectionsOf(db: Db, idLookup: IdLookup = 'in'): Collections {
  return {
    idLookup,
    messages: db.collection<MessageDoc>('messages'),
    conversations: db.collection<ConversationDoc>('conversations'),
    memberships: db.collection<MembershipDoc>('memberships'),
    userCursors: db.collection<CursorDoc>('user_cursors'),
    deviceCursors: db.collection<CursorDoc>('device_cursors'),
    devices: db.collection<DeviceDoc>('devices'),
    receipts: db.collection<ReceiptDoc>('receipts'),
  };
}

/** MongoDB's (and FerretDB's) duplicate-key error code: a unique index refused an insert. */
export const DUPLICATE_KEY = 11000;

export const membershipId = (conversationId: string, userId: string) => `${conversationId}/${userId}`;
export const userCursorId = (userId: string, conversationId: string) => `${userId}/${conversationId}`;
export const deviceCursorId = (userId: string, deviceId: string, conversationId: string) => `${userId}/${deviceId}/${conversationId}`;
export const deviceId = (userId: string, device: string) => `${userId}/${device}`;
export const receiptId = (userId: string, messageId: string) => `${userId}/${messageId}`;

export const MESSAGE_PROJECTION = { _id: 1, conversationId: 1, seq: 1, from: 1, fromDevice: 1, to: 1, body: 1, ts: 1, event: 1, target: 1, editedAt: 1, deleted: 1 } as const;

type MessageFields = Pick<MessageDoc, '_id' | 'conversationId' | 'seq' | 'from' | 'fromDevice' | 'to' | 'body' | 'ts' | 'event' | 'target' | 'editedAt' | 'deleted'>;

export function toStoredMessage(doc: MessageFields): StoredMessage {
  return Object.freeze({
    messageId: doc._id,
    conversationId: doc.conversationId,
    seq: Number(doc.seq),
    from: doc.from,
    ...(doc.fromDevice != null ? { fromDevice: doc.fromDevice } : {}),
    ...(doc.to != null ? { to: doc.to } : {}),
    body: doc.body,
    ts: Number(doc.ts),
    ...(doc.event != null && doc.target != null ? { event: { kind: doc.event, target: doc.target } } : {}),
    ...(doc.editedAt != null && !doc.deleted ? { editedAt: Number(doc.editedAt) } : {}),
    ...(doc.deleted ? { deleted: true as const } : {}),
  });
}

export function toCursor(doc: Pick<CursorDoc, 'upTo' | 'runs' | 'above'> | null | undefined): Cursor | undefined {
  if (!doc) return undefined;
  const upTo = Number(doc.upTo);
  const runs = doc.runs?.map(Number) ?? [];
  const listed = runsOf((doc.above ?? []).map(Number));
  if (runs.length === 0 && listed.length === 0) return { upTo, runs: EMPTY_CURSOR.runs };
  // Both forms, joined, and settled at the stored watermark: an instance from before runs (a rolling
  // upgrade) raises `upTo` and writes `above` alone, leaving `runs` behind, even below its watermark.
  return union({ upTo, runs }, { upTo, runs: listed });
}

/** A cursor's stored fields: its runs, and the seqs one by one for an instance from before runs. */
export function cursorFields(cursor: Cursor): Pick<CursorDoc, 'upTo' | 'runs' | 'above'> {
  return { upTo: cursor.upTo, runs: [...cursor.runs], above: seqsOf(cursor.runs, MAX_GAPS) };
}

/** The projection that reads a cursor's fields. */
export const CURSOR_PROJECTION = { upTo: 1, runs: 1, above: 1 } as const;
