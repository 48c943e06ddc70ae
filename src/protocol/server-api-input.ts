// Validation of the server API's bodies (docs/protocol.md, "Server API"). The send and group fields
// reuse the client rules (frames.ts, api-input.ts); what is new is the acting user, which may also be
// the system user. Objects where strings belong are refused like everywhere else.
import type { NewGroupInput, SendInput } from '../chat/commands.js';
import { ChatError } from '../errors.js';
import { validateNewGroup } from './api-input.js';
import { isPlainObject, validateSendInput } from './frames.js';
import { isReservedUserId, SYSTEM_USER_ID, USER_ID_PATTERN } from './ids.js';

/** A send on behalf of `from`: any user, or the system user. */
export function validateServerSend(value: unknown, limits: { readonly maxMessageBytes: number }): { from: string; input: SendInput } {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  const from = actingUserOf(value.from, 'from');
  return { from, input: validateSendInput(value, limits) };
}

/** A group created on behalf of `ownerId` (any user, or the system user), who becomes its owner. */
export function validateServerGroup(value: unknown, maxTitleChars: number, maxMembers: number): { ownerId: string; group: NewGroupInput } {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  const ownerId = actingUserOf(value.ownerId, 'ownerId');
  return { ownerId, group: validateNewGroup(value, maxTitleChars, maxMembers) };
}

function actingUserOf(value: unknown, field: string): string {
  if (typeof value !== 'string' || !USER_ID_PATTERN.test(value) || (isReservedUserId(value) && value !== SYSTEM_USER_ID)) {
    throw new ChatError('bad_request', `Field "${field}" must be a user id of 1-64 characters [A-Za-z0-9_.@-] other than . and .., or "${SYSTEM_USER_ID}"`);
  }
  return value;
}
