// Conversation ids, the same on every instance without asking anyone: a direct conversation's id is
// derived from its two members, a group's from a random value or from its owner's Idempotency-Key.
import { createHash, randomBytes } from 'node:crypto';

const MAX_ID = 128;

/** `d:<a>:<b>` with the two user ids sorted (user ids hold no ':'), hashed when that would be too long. */
export function directConversationId(a: string, b: string): string {
  const [low, high] = a < b ? [a, b] : [b, a];
  const plain = `d:${low}:${high}`;
  return plain.length <= MAX_ID ? plain : `d:${digest(`${low}\n${high}`)}`;
}

/** Every group's id starts so, and no direct conversation's does (a store counts a user's groups by it). */
export const GROUP_ID_PREFIX = 'g:';

/** A new group's id; with an Idempotency-Key the same owner and key always give the same id. */
export function groupConversationId(ownerId: string, idempotencyKey?: string): string {
  return idempotencyKey === undefined ? `${GROUP_ID_PREFIX}${randomBytes(16).toString('base64url')}` : `${GROUP_ID_PREFIX}${digest(`${ownerId}\n${idempotencyKey}`).slice(0, 32)}`;
}

/**
 * What a group's creating request asked for, digested: its title and its members (besides the owner,
 * each once, as ConversationService.create has them), in any order, so that a retry matches and the
 * same Idempotency-Key with another body does not.
 */
export function groupRequestDigest(title: string, members: readonly string[]): string {
  return digest(JSON.stringify([title, [...members].sort()]));
}

export function isDirectConversationId(conversationId: string): boolean {
  return conversationId.startsWith('d:');
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}
