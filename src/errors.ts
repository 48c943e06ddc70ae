// The one error registry: each code has its wire code (error frames), HTTP status and default message.
// Neutral: auth/, chat/, protocol/, transport/ and the SDK all import it; it imports nothing.
// The domain throws ChatError; only the transport turns it into a frame or a response.

export const ERROR_CODES = {
  bad_request: { status: 400, message: 'Malformed or invalid request' },
  unknown_type: { status: 400, message: 'Unknown frame type' },
  too_large: { status: 413, message: 'Payload too large' },
  conflict: { status: 409, message: 'messageId already exists with another sender, recipient or body' },
  rate_limited: { status: 429, message: 'Too many messages; slow down' },
  unavailable: { status: 503, message: 'Store unavailable; nothing was stored, retry with the same messageId' },
  internal: { status: 500, message: 'Internal error' },
  // v1.1: on frames and routes alike. not_found also answers "not a member", so existence does not leak.
  forbidden: { status: 403, message: 'Forbidden' },
  not_found: { status: 404, message: 'Not found' },
  // HTTP-only codes (never in a WebSocket error frame: those failures refuse the upgrade instead).
  unauthorized: { status: 401, message: 'Missing, invalid or expired token' },
  // A valid token of a user the server API banned: 401 like any refused token, its own code so a client stops retrying.
  banned: { status: 401, message: 'This account is banned' },
  method_not_allowed: { status: 405, message: 'Method not allowed' },
  // A plain GET of the WebSocket path (a browser tab, curl): it answers only an upgrade.
  upgrade_required: { status: 426, message: 'This is the WebSocket endpoint: open it with a WebSocket upgrade' },
  unsupported_media_type: { status: 415, message: 'Content-Type must be application/json' },
  timeout: { status: 408, message: 'Request body not received in time' },
  shutting_down: { status: 503, message: 'Server is shutting down' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ChatError extends Error {
  readonly code: ErrorCode;
  readonly messageId: string | undefined;
  /** v1.2: the edit or delete refused (`edit.<editId>` / `delete.<messageId>`), so a client matches the answer to its request. */
  readonly eventId: string | undefined;
  /** Seconds a client should wait before retrying (rate_limited, unavailable). */
  readonly retryAfterSec: number | undefined;
  /** v1.1: the conversation a refused `read`, `typing` or watermark `delivered` named (error frames). */
  readonly conversationId: string | undefined;
  /** The users a refusal is about (HTTP only: the group joins past MAX_GROUPS_PER_USER), for a client to leave out. */
  readonly users: readonly string[] | undefined;

  constructor(code: ErrorCode, message?: string, options: { messageId?: string; eventId?: string; conversationId?: string; retryAfterSec?: number; users?: readonly string[]; cause?: unknown } = {}) {
    super(message ?? ERROR_CODES[code].message, { cause: options.cause });
    this.name = 'ChatError';
    this.code = code;
    this.messageId = options.messageId;
    this.eventId = options.eventId;
    this.retryAfterSec = options.retryAfterSec;
    this.conversationId = options.conversationId;
    this.users = options.users;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** Anything thrown that is not a ChatError is an internal error: its details stay in the log. */
export function toChatError(error: unknown): ChatError {
  return error instanceof ChatError ? error : new ChatError('internal', undefined, { cause: error });
}
