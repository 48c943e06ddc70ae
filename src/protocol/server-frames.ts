// Wire protocol v1 (docs/protocol.md): the server's frames. encodeServerEvent is the one place that
// turns the chat domain's typed events into text frames; the transport calls it, the domain never does.
import type { ServerEvent } from '../chat/events.js';
import type { ChatError } from '../errors.js';

// Encoders. Ids and user ids are validated against patterns with no characters that need JSON
// escaping, so they are concatenated as they are; bodies and free text go through JSON.stringify.

export function encodeSentAck(messageId: string, ts: number, duplicate: boolean): string {
  return `{"type":"ack","status":"SENT","messageId":"${messageId}","ts":${ts},"duplicate":${duplicate}}`;
}

export function encodeDeliveredAck(messageId: string): string {
  return `{"type":"ack","status":"DELIVERED","messageId":"${messageId}"}`;
}

export interface MessageView {
  readonly messageId: string;
  readonly from: string;
  readonly to: string;
  readonly body: string;
  readonly ts: number;
}

export function encodeMessage(message: MessageView): string {
  return `{"type":"message","messageId":"${message.messageId}","from":"${message.from}","to":"${message.to}","body":${JSON.stringify(message.body)},"ts":${message.ts}}`;
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
    case 'ack_sent':
      return encodeSentAck(event.messageId, event.ts, event.duplicate);
    case 'ack_delivered':
      return encodeDeliveredAck(event.messageId);
    case 'ready':
      return encodeReady(event.replayed);
    case 'error':
      return encodeError(event.error);
  }
}
