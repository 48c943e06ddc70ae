// The HTTP side of the page: accounts and the conversation API (docs/protocol.md, "HTTP"). Same-origin
// fetches with the session cookie; an error answer becomes an ApiError with the server's message.

export interface LastMessage {
  readonly messageId: string;
  readonly from: string;
  readonly body: string;
  readonly ts: number;
  readonly seq: number;
}

export interface Conversation {
  readonly conversationId: string;
  readonly kind: 'direct' | 'group';
  readonly title?: string;
  readonly peer?: string;
  members: string[];
  memberCount: number;
  ownerId?: string;
  lastSeq: number;
  lastMessage: LastMessage | null;
  readSeq: number;
  unread: number;
}

export interface HistoryMessage {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly from: string;
  readonly to?: string;
  readonly body: string;
  readonly ts: number;
}

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

const at = (id: string) => `/api/conversations/${encodeURIComponent(id)}`;

/** Every conversation, most recent activity first (a few pages at most: this is a demo). */
export async function listConversations(): Promise<Conversation[]> {
  const all: Conversation[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10; page++) {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const { conversations, next } = await api<{ conversations: Conversation[]; next: string | null }>('GET', `/api/conversations?limit=100${query}`);
    all.push(...conversations);
    if (!(cursor = next)) break;
  }
  return all;
}

export const getConversation = (id: string) => api<Conversation>('GET', at(id));

export const history = (id: string, before?: number, limit = 50) =>
  api<{ messages: HistoryMessage[]; hasMore: boolean }>('GET', `${at(id)}/messages?limit=${limit}${before ? `&before=${before}` : ''}`);

export const createGroup = (title: string, members: string[]) =>
  api<Conversation>('POST', '/api/conversations', { title, members }, { 'idempotency-key': crypto.randomUUID() });

export const addMembers = (id: string, userIds: string[]) => api('POST', `${at(id)}/members`, { userIds });

export const removeMember = (id: string, userId: string) => api('DELETE', `${at(id)}/members/${encodeURIComponent(userId)}`);
