// When a persist of an existing messageId is a retry (duplicate) rather than a reuse of the id for
// something else (conflict). Both stores decide it here, the same way.
import type { StoredMessage } from './store.js';

/**
 * Same sender, conversation and event target, and the same body. A message since edited or deleted no
 * longer holds the body it was sent with, so there a retry is recognised by sender and conversation
 * alone: the original send's lost ack is answered, not refused as a conflict.
 */
export function sameContent(stored: StoredMessage, from: string, conversationId: string, body: string, target?: string): boolean {
  if (stored.from !== from || stored.conversationId !== conversationId || stored.event?.target !== target) return false;
  return stored.body === body || stored.editedAt !== undefined || stored.deleted === true;
}
