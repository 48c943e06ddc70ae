// The id rules of protocol v1 (docs/protocol.md), in one place for the server (frames, the JWT `sub`,
// account names) and the SDK, which checks a send before it queues it. Plain regexes (and character
// tables for the per-frame checks) and no imports, so the SDK's browser bundle can take them without
// pulling in server code.

/** A messageId, the client-chosen idempotency key: 1-64 characters of [A-Za-z0-9_-] (a ULID or a UUID fits). */
export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * MESSAGE_ID_PATTERN by character code, for the checks every frame makes (a send's messageId, each id
 * of a `delivered`): under callgrind a regex test cost the server ~650 instructions per id, where
 * this loop costs a few per character (bench/RESULTS.md, "Where a chat cycle's instructions go").
 */
export function isMessageId(value: string): boolean {
  return inCharset(value, 64, MESSAGE_ID_CHARS);
}

/** USER_ID_PATTERN by character code (a send's `to`). */
export function isUserId(value: string): boolean {
  return inCharset(value, 64, USER_ID_CHARS) && value !== '.' && value !== '..';
}

/** 1 for each ASCII character code that `chars` lists. */
function charset(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const MESSAGE_ID_CHARS = charset(`${ALPHANUMERIC}_-`);
const USER_ID_CHARS = charset(`${ALPHANUMERIC}_.@-`);

function inCharset(value: string, maxLength: number, table: Uint8Array): boolean {
  const length = value.length;
  if (length === 0 || length > maxLength) return false;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || table[code] === 0) return false;
  }
  return true;
}

/**
 * A user id (a JWT `sub`, an account name, a send's `to`): 1-64 characters of [A-Za-z0-9_.@-], but not
 * `.` or `..`: URL parsers (browsers, fetch, curl) resolve those as dot segments in
 * `/members/<userId>`, so nobody could remove or ban such a user through the API.
 */
export const USER_ID_PATTERN = /^(?!\.\.?$)[A-Za-z0-9_.@-]{1,64}$/;

/** A conversationId (v1.1): server-assigned and opaque to clients; at most 128 characters of [A-Za-z0-9_.@:-]. */
export const CONVERSATION_ID_PATTERN = /^[A-Za-z0-9_.@:-]{1,128}$/;

/** A device id (v1.1, `?device=` on the WebSocket URL): 1-64 characters of [A-Za-z0-9_-]. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The id of an edit or delete event (v1.2; in `message_event` frames as `eventId`, confirmed like a
 * messageId): `edit.<editId>` or `delete.<messageId>`. The dot keeps it apart from every messageId.
 */
export const EVENT_ID_PATTERN = /^(?:edit|delete)\.[A-Za-z0-9_-]{1,64}$/;

/** The client's editId inside an edit's eventId (`edit.<editId>`). */
export const editIdOf = (eventId: string): string => eventId.slice(eventId.indexOf('.') + 1);

/**
 * Usernames starting with `@` are the server's own: registration refuses them. `@system` is the system
 * user, which speaks only through the server API: no token for it is accepted (other `@` ids in tokens
 * from an external issuer stay valid, as protocol v1 allows them). docs/protocol.md, "Server API".
 */
export const RESERVED_USER_PREFIX = '@';
export const SYSTEM_USER_ID = '@system';

export function isReservedUserId(userId: string): boolean {
  return userId.startsWith(RESERVED_USER_PREFIX);
}
