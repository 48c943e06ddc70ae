// Wire protocol v1.1 (docs/protocol.md): client frame parsing and validation (the server's frames are
// encoded in server-frames.ts; the SDK's side of the same frames is client-codec.ts). No I/O here.
// Every field is type- and size-checked before use: an object where a string belongs (`{"$gt":""}`)
// is rejected, which is what keeps operator injection out of the store.
import type { ClientCommand, DeleteInput, EditInput, SendInput } from '../chat/commands.js';
import { editEventId } from '../chat/event-ids.js';
import { ChatError } from '../errors.js';
import { CONVERSATION_ID_PATTERN, EVENT_ID_PATTERN, isMessageId, isUserId, SYSTEM_USER_ID } from './ids.js';

/** A parsed client frame is a domain command (chat/commands.ts). */
export type ClientFrame = ClientCommand;
export type { SendInput };

export interface FrameLimits {
  readonly maxMessageBytes: number;
  readonly maxDeliveredIds: number;
}

/** Parses one text frame; throws ChatError (bad_request, unknown_type, too_large). */
export function parseClientFrame(text: string, limits: FrameLimits): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ChatError('bad_request', 'Frame is not valid JSON');
  }
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Frame must be a JSON object');
  const type = value.type;
  if (typeof type !== 'string') throw new ChatError('bad_request', 'Field "type" must be a string');
  switch (type) {
    case 'send':
      return validateSendInput(value, limits);
    case 'edit':
      return { type: 'edit', ...validateEditInput(value, limits) };
    case 'delete':
      return { type: 'delete', ...validateDeleteInput(value) };
    case 'delivered':
      if (value.conversationId !== undefined || value.seq !== undefined) {
        if (value.messageIds !== undefined) {
          throw new ChatError('bad_request', 'A delivered frame carries either "messageIds" or "conversationId" and "seq", not both', { conversationId: validConversationId(value.conversationId) });
        }
        return { type: 'delivered_upto', conversationId: conversationIdOf(value.conversationId), seq: seqIn(value) };
      }
      return { type: 'delivered', messageIds: validateMessageIds(value.messageIds, limits) };
    case 'read':
      return { type: 'read', conversationId: conversationIdOf(value.conversationId), seq: seqIn(value) };
    case 'typing':
      return { type: 'typing', conversationId: conversationIdOf(value.conversationId) };
    case 'sync':
      return { type: 'sync' };
    default:
      throw new ChatError('unknown_type', `Unknown frame type "${type.slice(0, 32)}"`);
  }
}

/**
 * A send, from a WebSocket frame or an HTTP body; unknown fields (a forged `from`) are ignored. The
 * send command itself, whichever door it came through: built by object literals, not a `type` spread
 * over the input (a CopyDataProperties call per frame under callgrind).
 */
export function validateSendInput(value: unknown, limits: Pick<FrameLimits, 'maxMessageBytes'>): SendInput & { readonly type: 'send' } {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  const { messageId, to, conversationId, body } = value;
  if (typeof messageId !== 'string' || !isMessageId(messageId)) {
    throw new ChatError('bad_request', 'Field "messageId" must be a string of 1-64 characters [A-Za-z0-9_-]');
  }
  if ((to === undefined) === (conversationId === undefined)) {
    throw new ChatError('bad_request', 'A send carries exactly one of "to" and "conversationId"', { messageId });
  }
  if (to !== undefined && (typeof to !== 'string' || !isUserId(to))) {
    throw new ChatError('bad_request', 'Field "to" must be a user id of 1-64 characters [A-Za-z0-9_.@-] other than . and ..', { messageId });
  }
  if (conversationId !== undefined && validConversationId(conversationId) === undefined) {
    throw new ChatError('bad_request', 'Field "conversationId" must be a conversation id of 1-128 characters [A-Za-z0-9_.@:-]', { messageId });
  }
  // No token for @system is accepted: a message to it would wait forever (and wake push for it).
  if (to === SYSTEM_USER_ID) throw new ChatError('bad_request', `"${SYSTEM_USER_ID}" is the server's own user and reads no messages`, { messageId });
  checkBody(body, messageId, limits);
  return to !== undefined ? { type: 'send', messageId, to: to as string, body } : { type: 'send', messageId, conversationId: conversationId as string, body };
}

/** v1.2: an edit, from a WebSocket frame or an HTTP body (whose path gives the messageId). */
export function validateEditInput(value: unknown, limits: Pick<FrameLimits, 'maxMessageBytes'>): EditInput {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  const { editId, body } = value;
  // Its eventId names every refusal of it once its editId is valid, a bad messageId's too (protocol.md).
  const eventId = typeof editId === 'string' && isMessageId(editId) ? editEventId(editId) : undefined;
  const { messageId } = validateDeleteInput(value, eventId);
  if (eventId === undefined) throw new ChatError('bad_request', 'Field "editId" must be a string of 1-64 characters [A-Za-z0-9_-]', { messageId });
  checkBody(body, messageId, limits, eventId);
  return { messageId, editId: editId as string, body };
}

/** v1.2: a delete names the message only. `eventId`: an edit's, for its refusal. */
export function validateDeleteInput(value: unknown, eventId?: string): DeleteInput {
  if (!isPlainObject(value)) throw new ChatError('bad_request', 'Expected a JSON object');
  const { messageId } = value;
  if (typeof messageId !== 'string' || !isMessageId(messageId)) {
    throw new ChatError('bad_request', 'Field "messageId" must be a string of 1-64 characters [A-Za-z0-9_-]', { eventId });
  }
  return { messageId };
}

/** `eventId`: an edit's, so that its refusal names it as protocol.md promises (v1.2). */
function checkBody(body: unknown, messageId: string, limits: Pick<FrameLimits, 'maxMessageBytes'>, eventId?: string): asserts body is string {
  if (typeof body !== 'string' || body.length === 0) {
    throw new ChatError('bad_request', 'Field "body" must be a non-empty string', { messageId, eventId });
  }
  // Cheap bound first: a UTF-16 string of n units encodes to at most 3n UTF-8 bytes.
  if (body.length * 3 > limits.maxMessageBytes && Buffer.byteLength(body, 'utf8') > limits.maxMessageBytes) {
    throw new ChatError('too_large', `Field "body" exceeds ${limits.maxMessageBytes} UTF-8 bytes`, { messageId, eventId });
  }
  // A lone surrogate cannot be stored as UTF-8 unchanged, and NUL is refused by some stores: a body
  // must come back byte-for-byte as it was sent, so both are refused up front.
  if (!body.isWellFormed()) throw new ChatError('bad_request', 'Field "body" contains a lone surrogate', { messageId, eventId });
  if (body.includes('\u0000')) throw new ChatError('bad_request', 'Field "body" must not contain NUL characters', { messageId, eventId });
}

export function conversationIdOf(value: unknown): string {
  const conversationId = validConversationId(value);
  if (conversationId === undefined) throw new ChatError('bad_request', 'Field "conversationId" must be a conversation id of 1-128 characters [A-Za-z0-9_.@:-]');
  return conversationId;
}

function validConversationId(value: unknown): string | undefined {
  return typeof value === 'string' && CONVERSATION_ID_PATTERN.test(value) ? value : undefined;
}

/**
 * The seq of a `read` or watermark `delivered` whose conversationId was read first (the literal's
 * order): a bad seq's error names that conversation, so that a client matches it to its frame.
 */
function seqIn(value: Record<string, unknown>): number {
  const { seq } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new ChatError('bad_request', 'Field "seq" must be a non-negative integer', { conversationId: value.conversationId as string });
  }
  return seq;
}

function validateMessageIds(value: unknown, limits: FrameLimits): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ChatError('bad_request', 'Field "messageIds" must be a non-empty array of message ids');
  }
  if (value.length > limits.maxDeliveredIds) {
    throw new ChatError('too_large', `Field "messageIds" holds more than ${limits.maxDeliveredIds} ids`);
  }
  for (const id of value) {
    if (typeof id !== 'string' || !(isMessageId(id) || EVENT_ID_PATTERN.test(id))) {
      throw new ChatError('bad_request', 'Every entry of "messageIds" must be a message id (or an edit/delete eventId) string');
    }
  }
  return value as string[];
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// The server's side (encoders) lives in server-frames.ts.
export { encodeDeliveredAck, encodeError, encodeMessage, encodeReady, encodeSentAck, type MessageView } from './server-frames.js';
