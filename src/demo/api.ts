// The accounts side of the page (docs/protocol.md, "Accounts"): before there is a session there is no
// SDK client, so login, register, logout, /api/me and the account lookup are same-origin fetches (the
// cookie goes along); an error answer's message becomes a sentence. Conversations go through the SDK
// (client.conversations), but for their receipts, which the SDK does not hand over (receipts.ts).
import type { ConversationListItem } from '../client/index.js';

/** A conversation list entry as the page keeps it: live messages and receipts update it in place. */
export type Conversation = { -readonly [K in keyof ConversationListItem]: ConversationListItem[K] };

/** GET (no body) or POST (a JSON body) an account route: its status and answer, and why it failed as a sentence. */
export async function account(path: string, body?: object): Promise<{ ok: boolean; status: number; data: Record<string, unknown>; error: string }> {
  const response = await fetch(path, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {});
  const text = await response.text();
  const data = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  const retry = response.headers.get('retry-after');
  const message = (data.error as { message?: string } | undefined)?.message ?? `HTTP ${response.status}`;
  return { ok: response.ok, status: response.status, data, error: retry ? `${message} (in ${retry} s)` : message };
}
