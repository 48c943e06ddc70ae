// The bus's wire form: JSON with the publishing instance's `origin`. Other instances are trusted, but
// a malformed event must never become a malformed frame, so every field is checked on the way in.
import type { ConversationEventKind } from '../chat/events.js';
import type { Conversation, MessageEventRef, StoredMessage } from '../store/store.js';
import type { BusEvent } from './live-bus.js';

export type WireEvent = BusEvent & { readonly origin: string };

const KINDS = new Set(['created', 'joined', 'left', 'removed', 'updated']);

/** The wire text of an event; a message's prefix is built once per instance (the hot path). */
export function encodeWireEvent(origin: string, messagePrefix: string, event: BusEvent): string {
  if (event.kind === 'message') return `${messagePrefix}${JSON.stringify(event.message)}}`;
  return JSON.stringify({ ...event, origin });
}

export function messagePrefixFor(origin: string): string {
  return `{"kind":"message","origin":${JSON.stringify(origin)},"message":`;
}

export function parseWireEvent(text: string): WireEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value.origin !== 'string') return undefined;
  const origin = value.origin;
  switch (value.kind) {
    case 'message': {
      const message = messageOf(value.message);
      return message && { kind: 'message', origin, message };
    }
    case 'delivered':
      return typeof value.sender === 'string' && typeof value.messageId === 'string' ? { kind: 'delivered', origin, sender: value.sender, messageId: value.messageId } : undefined;
    case 'receipt': {
      const { conversationId, userId, deliveredSeq, readSeq } = value;
      if (typeof conversationId !== 'string' || typeof userId !== 'string' || !optionalSeq(deliveredSeq) || !optionalSeq(readSeq)) return undefined;
      return { kind: 'receipt', origin, conversationId, userId, ...(deliveredSeq !== undefined ? { deliveredSeq } : {}), ...(readSeq !== undefined ? { readSeq } : {}) };
    }
    case 'typing':
      return typeof value.conversationId === 'string' && typeof value.userId === 'string' ? { kind: 'typing', origin, conversationId: value.conversationId, userId: value.userId } : undefined;
    case 'conversation': {
      const conversation = conversationOf(value.conversation);
      const { event, users } = value;
      if (!conversation || typeof event !== 'string' || !KINDS.has(event) || !stringArray(users)) return undefined;
      return { kind: 'conversation', origin, event: event as ConversationEventKind, conversation, users };
    }
    case 'catchup':
      return Number.isFinite(value.since) ? { kind: 'catchup', origin, since: value.since as number } : undefined;
    case 'access': {
      const { userId, bannedAt, tokensValidAfter, updatedAt } = value;
      const ok = typeof userId === 'string' && (bannedAt === null || Number.isFinite(bannedAt)) && Number.isFinite(tokensValidAfter) && Number.isFinite(updatedAt);
      return ok ? { kind: 'access', origin, userId, bannedAt: bannedAt as number | null, tokensValidAfter: tokensValidAfter as number, updatedAt: updatedAt as number } : undefined;
    }
    default:
      return undefined;
  }
}

function messageOf(value: unknown): StoredMessage | undefined {
  if (!isObject(value)) return undefined;
  const { messageId, conversationId, seq, from, fromDevice, to, body, ts, event } = value;
  const ok = typeof messageId === 'string' && typeof conversationId === 'string' && Number.isSafeInteger(seq) && typeof from === 'string'
    && (fromDevice === undefined || typeof fromDevice === 'string') && (to === undefined || typeof to === 'string')
    && typeof body === 'string' && typeof ts === 'number' && (event === undefined || eventOf(event) !== undefined);
  if (!ok) return undefined;
  return {
    messageId, conversationId, seq: seq as number, from,
    ...(fromDevice !== undefined ? { fromDevice: fromDevice as string } : {}),
    ...(to !== undefined ? { to: to as string } : {}),
    body, ts,
    ...(event !== undefined ? { event: eventOf(event)! } : {}),
  };
}

/** An edit or delete event's reference (v1.2): what it does, to which message. */
function eventOf(value: unknown): MessageEventRef | undefined {
  if (!isObject(value)) return undefined;
  const { kind, target } = value;
  return (kind === 'edited' || kind === 'deleted') && typeof target === 'string' ? { kind, target } : undefined;
}

function conversationOf(value: unknown): Conversation | undefined {
  if (!isObject(value)) return undefined;
  const { conversationId, kind, title, ownerId, createdAt, members } = value;
  const ok = typeof conversationId === 'string' && (kind === 'direct' || kind === 'group') && (title === null || typeof title === 'string')
    && (ownerId === null || typeof ownerId === 'string') && typeof createdAt === 'number' && stringArray(members);
  return ok ? { conversationId, kind, title, ownerId, createdAt, members } : undefined;
}

function optionalSeq(value: unknown): value is number | undefined {
  return value === undefined || (typeof value === 'number' && Number.isSafeInteger(value));
}

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
