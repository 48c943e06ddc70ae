// Validation of the conversation API's inputs (docs/protocol.md, HTTP): bodies and query strings.
// Same rules as frames: every field type- and size-checked, objects where strings belong refused.
import type { NewGroupInput } from '../chat/commands.js';
import { ChatError } from '../errors.js';
import { decodeListCursor } from '../store/conversation-list.js';
import { isPlainObject } from './frames.js';
import { USER_ID_PATTERN } from './ids.js';

export function validateNewGroup(value: unknown, maxTitleChars: number, maxMembers: number): NewGroupInput {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  return { title: titleOf(value.title, maxTitleChars), members: userIdsOf(value.members, 'members', maxMembers, true) };
}

export function validateTitle(value: unknown, maxTitleChars: number): string {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  return titleOf(value.title, maxTitleChars);
}

export function validateUserIds(value: unknown, maxMembers: number): string[] {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  return userIdsOf(value.userIds, 'userIds', maxMembers, false);
}

export function userIdParam(value: string): string {
  if (!USER_ID_PATTERN.test(value)) throw new ChatError('bad_request', 'The user id in the URL must be 1-64 characters [A-Za-z0-9_.@-] other than . and ..');
  return value;
}

/** A query parameter's value, null when absent; given twice it is refused (which one counts would be a guess). */
function onceParam(query: URLSearchParams, name: string): string | null {
  const values = query.getAll(name);
  if (values.length > 1) throw new ChatError('bad_request', `Query parameter "${name}" is given more than once`);
  return values[0] ?? null;
}

/** A positive integer query parameter, or undefined when absent. */
export function positiveIntParam(query: URLSearchParams, name: string): number | undefined {
  return intParam(query, name, /^[1-9][0-9]{0,15}$/, 'a positive integer');
}

/** A non-negative integer query parameter (0 allowed: a seq to page forward from), or undefined when absent. */
export function nonNegativeIntParam(query: URLSearchParams, name: string): number | undefined {
  return intParam(query, name, /^(0|[1-9][0-9]{0,15})$/, 'a non-negative integer');
}

function intParam(query: URLSearchParams, name: string, pattern: RegExp, what: string): number | undefined {
  const raw = onceParam(query, name);
  if (raw === null) return undefined;
  if (!pattern.test(raw) || !Number.isSafeInteger(Number(raw))) throw new ChatError('bad_request', `Query parameter "${name}" must be ${what}`);
  return Number(raw);
}

export function listCursorParam(query: URLSearchParams): string | undefined {
  const raw = onceParam(query, 'cursor');
  if (raw === null || raw === '') return undefined;
  if (!decodeListCursor(raw)) throw new ChatError('bad_request', 'Query parameter "cursor" is not a cursor this server returned');
  return raw;
}

/** An Idempotency-Key header: 1-128 printable ASCII characters, or not sent (sent empty is refused). */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,128}$/.test(header)) throw new ChatError('bad_request', 'Header "Idempotency-Key" must be 1-128 printable ASCII characters');
  return header;
}

function titleOf(value: unknown, maxTitleChars: number): string {
  if (typeof value !== 'string' || value.trim().length === 0) throw new ChatError('bad_request', 'Field "title" must be a non-empty string');
  if ([...value].length > maxTitleChars) throw new ChatError('bad_request', `Field "title" exceeds ${maxTitleChars} characters`);
  if (!value.isWellFormed() || value.includes('\u0000')) throw new ChatError('bad_request', 'Field "title" must be well-formed text without NUL');
  return value;
}

function userIdsOf(value: unknown, field: string, max: number, allowEmpty: boolean): string[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) throw new ChatError('bad_request', `Field "${field}" must be ${allowEmpty ? 'an' : 'a non-empty'} array of user ids`);
  if (value.length > max) throw new ChatError('too_large', `Field "${field}" holds more than ${max} user ids`);
  for (const id of value) {
    if (typeof id !== 'string' || !USER_ID_PATTERN.test(id)) throw new ChatError('bad_request', `Every entry of "${field}" must be a user id of 1-64 characters [A-Za-z0-9_.@-] other than . and ..`);
  }
  return value as string[];
}
