// The client's side of the wire (docs/protocol.md, v1 and v1.1): decoding the server's frames and
// encoding the client's, beside the server's side in frames.ts and server-frames.ts. The SDK uses it
// instead of reading JSON by hand, so a frame's shape is stated once, as a type, here. No I/O, no Node
// API and only type imports, so the SDK's browser bundle takes it without server code.
import type { ErrorCode } from '../errors.js';
import type { MessageView } from './frames.js';

export interface SentAckFrame {
  readonly type: 'ack';
  readonly status: 'SENT';
  readonly messageId: string;
  /** The server's accept time (ms). */
  readonly ts: number;
  readonly duplicate: boolean;
  /** v1.1: where it was stored and its place there. */
  readonly conversationId?: string;
  readonly seq?: number;
}

/** v1.2: an edit or delete of this device's is stored and applied. `messageId` is the message changed. */
export interface EventAckFrame {
  readonly type: 'ack';
  readonly status: 'EDITED' | 'DELETED';
  readonly messageId: string;
  readonly editId?: string;
  readonly eventId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly ts: number;
  readonly duplicate: boolean;
}

/** v1.2 (`?events=1`): a message was edited (with its new body) or deleted; confirm it by `eventId` or watermark. */
export interface MessageEventFrame {
  readonly type: 'message_event';
  readonly event: 'edited' | 'deleted';
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly body?: string;
  readonly ts: number;
  readonly from: string;
  readonly eventId: string;
}

export interface DeliveredAckFrame {
  readonly type: 'ack';
  readonly status: 'DELIVERED';
  readonly messageId: string;
}

/** v1 frames carry `to`; v1.1 adds conversationId and seq, and group messages carry no `to`. */
export interface MessageFrame extends MessageView {
  readonly type: 'message';
}

export interface ReadyFrame {
  readonly type: 'ready';
  readonly replayed: number;
}

export interface ErrorFrame {
  readonly type: 'error';
  readonly code: ErrorCode;
  readonly message: string;
  /** Present when the refused frame carried a valid messageId (a send); absent for delivered and sync. */
  readonly messageId?: string;
  /** Seconds to wait before trying again (rate_limited, unavailable). */
  readonly retryAfter?: number;
  /** v1.2: the refused edit's or delete's eventId. */
  readonly eventId?: string;
}

/** v1.1: a member's delivered and/or read watermark advanced. */
export interface ReceiptFrame {
  readonly type: 'receipt';
  readonly conversationId: string;
  readonly userId: string;
  readonly deliveredSeq?: number;
  readonly readSeq?: number;
}

/** v1.1: a member is typing. */
export interface TypingFrame {
  readonly type: 'typing';
  readonly conversationId: string;
  readonly userId: string;
}

export interface ConversationView {
  readonly conversationId: string;
  readonly kind: 'direct' | 'group';
  readonly title?: string | null;
  readonly members: readonly string[];
  readonly memberCount: number;
  readonly ownerId?: string | null;
  readonly createdAt: number;
}

/** v1.1: a conversation was created, joined, left, removed from or updated. */
export interface ConversationFrame {
  readonly type: 'conversation';
  readonly event: 'created' | 'joined' | 'left' | 'removed' | 'updated';
  readonly conversation: ConversationView;
}

export type ServerFrame = SentAckFrame | DeliveredAckFrame | EventAckFrame | MessageEventFrame | MessageFrame | ReadyFrame | ErrorFrame | ReceiptFrame | TypingFrame | ConversationFrame;

/** What the SDK writes: v1's frames plus v1.1's watermark confirmation, read mark and typing. */
export type OutgoingFrame =
  | { readonly type: 'send'; readonly messageId: string; readonly to: string; readonly body: string }
  | { readonly type: 'send'; readonly messageId: string; readonly conversationId: string; readonly body: string }
  | { readonly type: 'delivered'; readonly messageIds: readonly string[] }
  | { readonly type: 'delivered'; readonly conversationId: string; readonly seq: number }
  | { readonly type: 'read'; readonly conversationId: string; readonly seq: number }
  | { readonly type: 'typing'; readonly conversationId: string }
  | { readonly type: 'sync' }
  | { readonly type: 'edit'; readonly messageId: string; readonly editId: string; readonly body: string }
  | { readonly type: 'delete'; readonly messageId: string };

const CONVERSATION_EVENTS = new Set(['created', 'joined', 'left', 'removed', 'updated']);

/**
 * One text frame from the server, or undefined for what this version does not know or cannot use
 * (ignored rather than fatal, so a newer server may add frame types and fields).
 */
export function decodeServerFrame(text: string): ServerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const frame = value;
  const messageId = typeof frame.messageId === 'string' ? frame.messageId : undefined;
  switch (frame.type) {
    case 'ack':
      if (messageId === undefined) return undefined;
      if (frame.status === 'SENT') return { type: 'ack', status: 'SENT', messageId, ts: Number(frame.ts), duplicate: frame.duplicate === true, ...placeOf(frame) };
      if (frame.status === 'DELIVERED') return { type: 'ack', status: 'DELIVERED', messageId };
      if (frame.status === 'EDITED' || frame.status === 'DELETED') {
        const place = placeOf(frame);
        if (typeof frame.eventId !== 'string' || place.conversationId === undefined) return undefined;
        return { type: 'ack', status: frame.status, messageId, ...(typeof frame.editId === 'string' ? { editId: frame.editId } : {}), eventId: frame.eventId, conversationId: place.conversationId, seq: place.seq!, ts: Number(frame.ts), duplicate: frame.duplicate === true };
      }
      return undefined;
    case 'message_event': {
      const place = placeOf(frame);
      const { event, body, ts, from, eventId } = frame;
      if (messageId === undefined || place.conversationId === undefined || (event !== 'edited' && event !== 'deleted') || typeof eventId !== 'string' || typeof from !== 'string' || typeof ts !== 'number') return undefined;
      if (event === 'edited' && typeof body !== 'string') return undefined;
      return { type: 'message_event', event, messageId, conversationId: place.conversationId, seq: place.seq!, ...(event === 'edited' ? { body: body as string } : {}), ts, from, eventId };
    }
    case 'message': {
      const { from, to, body, ts } = frame;
      const place = placeOf(frame);
      if (messageId === undefined || typeof from !== 'string' || typeof body !== 'string' || typeof ts !== 'number') return undefined;
      if (typeof to !== 'string' && (to !== undefined || place.conversationId === undefined)) return undefined;
      const v12 = frame.deleted === true ? { deleted: true as const } : typeof frame.editedAt === 'number' ? { editedAt: frame.editedAt } : {};
      return { type: 'message', messageId, from, ...(typeof to === 'string' ? { to } : {}), body, ts, ...place, ...v12 };
    }
    case 'ready':
      return { type: 'ready', replayed: Number(frame.replayed) || 0 };
    case 'error': {
      const code = String(frame.code) as ErrorCode;
      return {
        type: 'error',
        code,
        message: typeof frame.message === 'string' ? frame.message : code,
        ...(messageId !== undefined ? { messageId } : {}),
        ...(typeof frame.eventId === 'string' ? { eventId: frame.eventId } : {}),
        ...(typeof frame.retryAfter === 'number' ? { retryAfter: frame.retryAfter } : {}),
      };
    }
    case 'receipt': {
      const { conversationId, userId, deliveredSeq, readSeq } = frame;
      if (typeof conversationId !== 'string' || typeof userId !== 'string') return undefined;
      return { type: 'receipt', conversationId, userId, ...(isSeq(deliveredSeq) ? { deliveredSeq } : {}), ...(isSeq(readSeq) ? { readSeq } : {}) };
    }
    case 'typing':
      if (typeof frame.conversationId !== 'string' || typeof frame.userId !== 'string') return undefined;
      return { type: 'typing', conversationId: frame.conversationId, userId: frame.userId };
    case 'conversation': {
      const conversation = conversationOf(frame.conversation);
      if (typeof frame.event !== 'string' || !CONVERSATION_EVENTS.has(frame.event) || !conversation) return undefined;
      return { type: 'conversation', event: frame.event as ConversationFrame['event'], conversation };
    }
    default:
      return undefined;
  }
}

/** A client frame, as the server parses it (parseClientFrame in frames.ts). */
export function encodeClientFrame(frame: OutgoingFrame): string {
  return JSON.stringify(frame);
}

/** A conversation's description in frames and HTTP answers, or undefined when its core fields are missing. */
export function conversationOf(value: unknown): ConversationView | undefined {
  if (!isObject(value)) return undefined;
  const { conversationId, kind, title, members, memberCount, ownerId, createdAt } = value;
  if (typeof conversationId !== 'string' || (kind !== 'direct' && kind !== 'group')) return undefined;
  const list = Array.isArray(members) ? members.filter((m): m is string => typeof m === 'string') : [];
  return {
    conversationId,
    kind,
    title: typeof title === 'string' ? title : null,
    members: list,
    memberCount: typeof memberCount === 'number' ? memberCount : list.length,
    ownerId: typeof ownerId === 'string' ? ownerId : null,
    createdAt: typeof createdAt === 'number' ? createdAt : 0,
  };
}

function placeOf(frame: Record<string, unknown>): { conversationId?: string; seq?: number } {
  const { conversationId, seq } = frame;
  return typeof conversationId === 'string' && isSeq(seq) ? { conversationId, seq } : {};
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
