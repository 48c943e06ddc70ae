// Wire protocol v1.1 (docs/protocol.md): the server's frames. encodeServerEvent is the one place that
// turns the chat domain's typed events into text frames; the transport calls it, the domain never does.
// v1 fields keep their names, types and order; v1.1 fields are only added after them.
import type { ServerEvent } from '../chat/events.js';
import type { ChatError } from '../errors.js';
import type { Conversation } from '../store/store.js';

// Encoders. Ids, user ids and conversation ids are validated against patterns with no characters that
// need JSON escaping, so they are concatenated as they are; bodies and free text go through JSON.stringify.

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
}

export function encodeMessage(message: MessageView): string {
  const to = message.to === undefined ? '' : `,"to":"${message.to}"`;
  const v11 = message.conversationId === undefined ? '' : `,"conversationId":"${message.conversationId}","seq":${message.seq}`;
  return `{"type":"message","messageId":"${message.messageId}","from":"${message.from}"${to},"body":${JSON.stringify(message.body)},"ts":${message.ts}${v11}}`;
}

export function encodeReady(replayed: number): string {
  return `{"type":"ready","replayed":${replayed}}`;
}

export function encodeError(error: ChatError): string {
  return JSON.stringify({
    type: 'error',
    code: error.code,
    message: error.message,
    ...(error.messageId !== undefined ? { messageId: error.messageId } : {}),
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
      return encodeMessage(event.message);
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
      return encodeError(event.error);
  }
}
