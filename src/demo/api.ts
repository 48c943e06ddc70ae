// The accounts side of the page (docs/protocol.md, "Accounts"): before there is a session there is no
// SDK client, so login, register, logout and /api/me are same-origin fetches; an error answer becomes an
// ApiError with the server's message. Conversations go through the SDK (client.conversations).
import type { ConversationListItem } from '../client/index.js';

/** A conversation list entry as the page keeps it: live messages and receipts update it in place. */
export type Conversation = { -readonly [K in keyof ConversationListItem]: ConversationListItem[K] };

/** GET (no body) or POST (a JSON body) an account route: its answer, and why it failed as a sentence. */
export async function account(path: string, body?: object): Promise<{ ok: boolean; data: Record<string, unknown>; error: string }> {
  const response = await fetch(path, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {});
  const text = await response.text();
  const data = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  const retry = response.headers.get('retry-after');
  const message = (data.error as { message?: string } | undefined)?.message ?? `HTTP ${response.status}`;
  return { ok: response.ok, data, error: retry ? `${message} (in ${retry} s)` : message };
}
