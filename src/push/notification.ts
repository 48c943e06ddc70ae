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

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The body's start, at most `chars` code points (a bound on size: one grapheme cluster may hold any
 * number), cut between grapheme clusters: a flag, a ZWJ family, a skin tone or an accented letter is
 * kept whole or left out, never split. null for 0.
 */
export function previewOf(body: string, chars: number): string | null {
  if (chars <= 0) return null;
  if (body.length <= chars) return body;
  let end = 0;
  let used = 0;
  for (const { segment, index } of graphemes.segment(body)) {
    let points = 0;
    for (const _ of segment) points++;
    if (used + points > chars) break;
    used += points;
    end = index + segment.length;
  }
  return body.slice(0, end);
}

export function payloadOf(id: string, userId: string, message: StoredMessage, previewChars: number): PushPayload {
  return { id, userId, conversationId: message.conversationId, messageId: message.messageId, from: message.from, preview: previewOf(message.body, previewChars), ts: message.ts };
}
