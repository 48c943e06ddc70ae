// Wire protocol v1.1 (docs/protocol.md): the server's frames. encodeServerEvent is the one place that
// turns the chat domain's typed events into text frames; the transport calls it, the domain never does.
// v1 fields keep their names, types and order; v1.1 fields are only added after them.
import type { ServerEvent } from '../chat/events.js';
import { editIdOf } from './ids.js';
import type { ChatError } from '../errors.js';
import type { Conversation, StoredMessage } from '../store/store.js';

// Encoders. Ids, user ids and conversation ids are validated against patterns with no characters that
// need JSON escaping, so they are concatenated as they are; bodies go through jsonString, free text
// through JSON.stringify.

/**
 * A string as JSON, as JSON.stringify writes it. Most chat bodies need no escaping, and JSON.stringify
 * of one short body cost ~2,600 instructions per message frame under callgrind (entering the
 * stringifier is most of it); this scan costs a few per character and hands anything to escape
 * (quote, backslash, control characters, surrogates) to JSON.stringify.
 */
export function jsonString(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

/** v1 callers pass no conversation; v1.1 adds conversationId and seq. */
export function encodeSentAck(messageId: string, ts: number, duplicate: boolean, conversationId?: string, seq?: number): string {
  const v11 = conversationId === undefined ? '' : `,"conversationId":"${conversationId}","seq":${seq}`;
  return `{"type":"ack","status":"SENT","messageId":"${messageId}","ts":${ts},"duplicate":${duplicate}${v11}}`;
}

export function encodeDeliveredAck(messageId: string): string {
  return `{"type":"ack","status":"DELIVERED","messageId":"${messageId}"}`;
}

export interface MessageView {
  readonly messageId: string;
  readonly from: string;
  /** Direct conversations only. */
  readonly to?: string;
  readonly body: string;
  readonly ts: number;
  readonly conversationId?: string;
  readonly seq?: number;
  /** v1.2: the time of its latest edit (the body is the edited one). */
  readonly editedAt?: number;
  /** v1.2: a deleted message's tombstone (body ""); only connections that take message events get one. */
  readonly deleted?: true;
}

export function encodeMessage(message: MessageView): string {
  const to = message.to === undefined ? '' : `,"to":"${message.to}"`;
  const v11 = message.conversationId === undefined ? '' : `,"conversationId":"${message.conversationId}","seq":${message.seq}`;
  const v12 = message.deleted ? ',"deleted":true' : message.editedAt !== undefined ? `,"editedAt":${message.editedAt}` : '';
  return `{"type":"message","messageId":"${message.messageId}","from":"${message.from}"${to},"body":${jsonString(message.body)},"ts":${message.ts}${v11}${v12}}`;
}

/** v1.2: an edit or delete event, live or replayed. `messageId` is the message it changes; `eventId` confirms it. */
export function encodeMessageEvent(event: StoredMessage): string {
  const { kind, target } = event.event!;
  const body = kind === 'edited' ? `,"body":${jsonString(event.body)}` : '';
  return `{"type":"message_event","event":"${kind}","messageId":"${target}","conversationId":"${event.conversationId}","seq":${event.seq}${body},"ts":${event.ts},"from":"${event.from}","eventId":"${event.messageId}"}`;
}

/** v1.2: the EDITED / DELETED ack, once the event is stored and applied. */
export function encodeEventAck(event: StoredMessage, duplicate: boolean): string {
  const { kind, target } = event.event!;
  const status = kind === 'edited' ? 'EDITED' : 'DELETED';
  const editId = kind === 'edited' ? `,"editId":"${editIdOf(event.messageId)}"` : '';
  return `{"type":"ack","status":"${status}","messageId":"${target}"${editId},"eventId":"${event.messageId}","conversationId":"${event.conversationId}","seq":${event.seq},"ts":${event.ts},"duplicate":${duplicate}}`;
}

export function encodeReady(replayed: number): string {
  return `{"type":"ready","replayed":${replayed}}`;
}

export function encodeError(error: ChatError, conversationId = error.conversationId): string {
  return JSON.stringify({
    type: 'error',
    code: error.code,
    message: error.message,
    ...(error.messageId !== undefined ? { messageId: error.messageId } : {}),
    ...(conversationId !== undefined ? { conversationId } : {}),
    ...(error.eventId !== undefined ? { eventId: error.eventId } : {}),
    ...(error.retryAfterSec !== undefined ? { retryAfter: error.retryAfterSec } : {}),
  });
}

/** The JSON shape of a conversation in frames and HTTP answers. */
export function conversationView(conversation: Conversation): Record<string, unknown> {
  return {
    conversationId: conversation.conversationId,
    kind: conversation.kind,
    title: conversation.title,
    members: conversation.members.slice(0, 100),
    memberCount: conversation.members.length,
    ownerId: conversation.ownerId,
    createdAt: conversation.createdAt,
  };
}

/**
 * The frame of one event. A fan-out sends the same event object to every connection in a row, so the
 * last encoding is kept: one encode per event, not one per recipient device.
 */
export function encodeServerEvent(event: ServerEvent): string {
  if (event === lastEvent) return lastFrame;
  const frame = encode(event);
  lastEvent = event;
  lastFrame = frame;
  return frame;
}

let lastEvent: ServerEvent | undefined;
let lastFrame = '';

function encode(event: ServerEvent): string {
  switch (event.type) {
    case 'message':
      return event.message.event ? encodeMessageEvent(event.message) : encodeMessage(event.message);
    case 'ack_event':
      return encodeEventAck(event.event, event.duplicate);
    case 'ack_sent': {
      const { message } = event;
      return encodeSentAck(message.messageId, message.ts, event.duplicate, message.conversationId, message.seq);
    }
    case 'ack_delivered':
      return encodeDeliveredAck(event.messageId);
    case 'receipt': {
      const delivered = event.deliveredSeq === undefined ? '' : `,"deliveredSeq":${event.deliveredSeq}`;
      const read = event.readSeq === undefined ? '' : `,"readSeq":${event.readSeq}`;
      return `{"type":"receipt","conversationId":"${event.conversationId}","userId":"${event.userId}"${delivered}${read}}`;
    }
    case 'typing':
      return `{"type":"typing","conversationId":"${event.conversationId}","userId":"${event.userId}"}`;
    case 'conversation':
      return JSON.stringify({ type: 'conversation', event: event.event, conversation: conversationView(event.conversation) });
    case 'ready':
      return encodeReady(event.replayed);
    case 'error':
      return encodeError(event.error, event.conversationId);
  }
}
