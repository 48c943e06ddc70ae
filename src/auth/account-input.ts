// Validation of register/login bodies. Every field is type-checked before use: an object where a
// string belongs (`{"username":{"$ne":null}}`) is refused, which keeps operator injection out of the
// user store. No I/O here.
import { ChatError } from '../errors.js';
import { USER_ID_PATTERN } from '../protocol/ids.js';

export const PASSWORD_MIN_CHARS = 8;
export const PASSWORD_MAX_CHARS = 1024;

export interface Credentials {
  /** A user id by the protocol's rule: 1–64 characters of [A-Za-z0-9_.@-], other than `.` and `..`. */
  readonly username: string;
  readonly password: string;
  /** The client asked for the token in the body too (non-browser clients). */
  readonly bearer: boolean;
}

export function parseCredentials(value: unknown): Credentials {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  const { username, password, bearer } = value as Record<string, unknown>;
  if (typeof username !== 'string' || !USER_ID_PATTERN.test(username)) {
    throw new ChatError('bad_request', 'Field "username" must be a string of 1-64 characters [A-Za-z0-9_.@-] other than . and ..');
  }
  if (typeof password !== 'string') throw new ChatError('bad_request', 'Field "password" must be a string');
  // Characters, not UTF-16 units: an emoji counts once.
  let chars = 0;
  for (const _ of password) if (++chars > PASSWORD_MAX_CHARS) break;
  if (chars < PASSWORD_MIN_CHARS || chars > PASSWORD_MAX_CHARS) {
    throw new ChatError('bad_request', `Field "password" must be ${PASSWORD_MIN_CHARS}-${PASSWORD_MAX_CHARS} characters`);
  }
  // A lone surrogate would be hashed as U+FFFD: two different passwords would then match.
  if (!password.isWellFormed()) throw new ChatError('bad_request', 'Field "password" contains a lone surrogate');
  if (bearer !== undefined && typeof bearer !== 'boolean') throw new ChatError('bad_request', 'Field "bearer" must be a boolean');
  return { username, password, bearer: bearer === true };
}
