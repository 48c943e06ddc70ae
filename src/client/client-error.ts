// The SDK's error type and the shape of its `error` events.
import type { ClientErrorCode, ClientErrorEvent } from './types.js';

/**
 * A send that failed for good, a refused HTTP API call (with its `status`), or a client-side refusal.
 * For an edit or delete, `messageId` is the message it was about and `eventId` the event's id.
 */
export class ChatClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly messageId?: string,
    readonly status?: number,
    readonly eventId?: string,
  ) {
    super(message);
    this.name = 'ChatClientError';
  }
}

/** How the parts of the client report on the `error` event. */
export type Report = (code: ClientErrorCode, message: string, willRetry: boolean, messageId?: string, retryAfter?: number, eventId?: string) => void;

export function errorEvent(code: ClientErrorCode, message: string, willRetry: boolean, messageId?: string, retryAfter?: number, eventId?: string): ClientErrorEvent {
  return {
    code,
    message,
    willRetry,
    ...(messageId !== undefined ? { messageId } : {}),
    ...(eventId !== undefined ? { eventId } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  };
}
