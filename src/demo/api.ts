// The accounts side of the page (docs/protocol.md, "Accounts"): before there is a session there is no
// SDK client, so login, register, logout and /api/me are same-origin fetches; an error answer becomes an
// ApiError with the server's message. Conversations go through the SDK (client.conversations).
import type { ConversationListItem } from '../client/index.js';

/** A conversation list entry as the page keeps it: live messages and receipts update it in place. */
export type Conversation = { -readonly [K in keyof ConversationListItem]: ConversationListItem[K] };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter: string | null,
  ) {
    super(message);
  }
}

export async function api<T = Record<string, unknown>>(method: string, path: string, body?: object, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'content-type': 'application/json', ...headers } : headers,
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  const data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (response.status >= 400) {
    const message = (data.error as { message?: string } | undefined)?.message ?? `HTTP ${response.status}`;
    throw new ApiError(response.status, message, response.headers.get('retry-after'));
  }
  return data as T;
}
