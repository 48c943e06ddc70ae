// The SDK's error type and the shape of its `error` events.
import type { ClientErrorCode, ClientErrorEvent } from './types.js';

/** A send that failed for good, a refused HTTP API call (with its `status`), or a client-side refusal. */
export class ChatClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly messageId?: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ChatClientError';
  }
}

/** How the parts of the client report on the `error` event. */
export type Report = (code: ClientErrorCode, message: string, willRetry: boolean, messageId?: string, retryAfter?: number) => void;

export function errorEvent(code: ClientErrorCode, message: string, willRetry: boolean, messageId?: string, retryAfter?: number): ClientErrorEvent {
  return { code, message, willRetry, ...(messageId !== undefined ? { messageId } : {}), ...(retryAfter !== undefined ? { retryAfter } : {}) };
}
