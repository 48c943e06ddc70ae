// What one push is: its deterministic id and the JSON the webhook receives.
import { createHash } from 'node:crypto';
import type { StoredMessage } from '../store/store.js';

/** The webhook's JSON body (docs/protocol.md, "Offline push webhook"). */
export interface PushPayload {
  /** The same for every attempt and every instance: the receiver dedupes on it. */
  readonly id: string;
  readonly userId: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly from: string;
  /** The body cut to PUSH_PREVIEW_CHARS characters; null when PUSH_PREVIEW_CHARS=0. */
  readonly preview: string | null;
  /** The message's accept time, ms since the epoch. */
  readonly ts: number;
}

/**
 * One id per (recipient, conversation, seq), derived the same way on every instance: inserting a row
 * under it is the claim. Hashed so that it carries no user id in clear and has a fixed length.
 */
export function pushNotificationId(userId: string, conversationId: string, seq: number): string {
  return createHash('sha256').update(`${userId}\n${conversationId}\n${seq}`).digest('hex').slice(0, 32);
}

/** The body's first `chars` characters (code points: an emoji is never cut in half); null for 0. */
export function previewOf(body: string, chars: number): string | null {
  if (chars <= 0) return null;
  if (body.length <= chars) return body;
  return Array.from(body).slice(0, chars).join('');
}

export function payloadOf(id: string, userId: string, message: StoredMessage, previewChars: number): PushPayload {
  return { id, userId, conversationId: message.conversationId, messageId: message.messageId, from: message.from, preview: previewOf(message.body, previewChars), ts: message.ts };
}
