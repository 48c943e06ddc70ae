// The conversation API as methods (docs/protocol.md, "HTTP"): the list, one conversation, groups and
// their members, and history paged backwards. Answers are checked for their core fields and handed
// over typed; refusals reject with ChatClientError (code and HTTP status).
import { conversationOf } from '../protocol/client-codec.js';
import { ChatClientError } from './client-error.js';
import type { Conversation, ConversationDetail, ConversationListItem, ConversationPage, HistoryMessage, HistoryOptions, HistoryPage, MemberReceipt } from './conversation-types.js';
import type { HttpApi } from './http-api.js';
import { newMessageId } from './ids.js';

export class ConversationsApi {
  constructor(
    private readonly api: HttpApi,
    /** This user's id (for leave()). */
    private readonly me: () => Promise<string>,
  ) {}

  /** This user's conversations, most recent activity first; pass the answer's `next` as `cursor` for the next page. */
  async list(options: { cursor?: string | null; limit?: number } = {}): Promise<ConversationPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor) query.set('cursor', options.cursor);
    const body = await this.api.call<{ conversations?: unknown; next?: unknown }>({ method: 'GET', path: `/api/conversations${query.size ? `?${query}` : ''}` });
    const items = Array.isArray(body?.conversations) ? body.conversations.map(listItemOf).filter((item) => item !== undefined) : [];
    return { conversations: items, next: typeof body?.next === 'string' ? body.next : null };
  }

  /**
   * One conversation with this user's read state and every member's watermarks (`receipts`, up to the
   * server's RECEIPTS_MAX_MEMBERS members); rejects with `not_found` (404) for a non-member.
   */
  async get(conversationId: string): Promise<ConversationDetail> {
    const body = await this.api.call<{ receipts?: unknown }>({ method: 'GET', path: pathOf(conversationId) });
    const item = listItemOf(body);
    if (!item) throw malformed();
    if (!Array.isArray(body?.receipts)) return item;
    return { ...item, receipts: body.receipts.filter(isMemberReceipt).map(({ userId, deliveredSeq, readSeq }) => ({ userId, deliveredSeq, readSeq })) };
  }

  /**
   * Creates a group with this user as its owner. One Idempotency-Key per call, reused by its retries,
   * so a retry after a lost answer returns the same group instead of a second one.
   */
  async create(input: { title: string; members: readonly string[] }, options: { idempotencyKey?: string } = {}): Promise<Conversation> {
    const key = options.idempotencyKey ?? newMessageId();
    const body = await this.api.call({ method: 'POST', path: '/api/conversations', body: { title: input.title, members: input.members }, headers: { 'idempotency-key': key } });
    return conversationOrThrow(body);
  }

  /** Owner only (`forbidden`, 403). Resolves with the members after the change. */
  async addMembers(conversationId: string, userIds: readonly string[]): Promise<{ conversationId: string; members: string[] }> {
    const body = await this.api.call<{ members?: unknown }>({ method: 'POST', path: `${pathOf(conversationId)}/members`, body: { userIds } });
    return { conversationId, members: Array.isArray(body?.members) ? body.members.filter((m): m is string => typeof m === 'string') : [] };
  }

  /** The owner removes anyone; removing oneself is leaving. */
  async removeMember(conversationId: string, userId: string): Promise<void> {
    await this.api.call({ method: 'DELETE', path: `${pathOf(conversationId)}/members/${encodeURIComponent(userId)}` });
  }

  /** This user leaves the group (ownership passes to the longest-standing member). */
  async leave(conversationId: string): Promise<void> {
    await this.removeMember(conversationId, await this.me());
  }

  /** Owner only. Resolves with the renamed conversation. */
  async rename(conversationId: string, title: string): Promise<Conversation> {
    return conversationOrThrow(await this.api.call({ method: 'PATCH', path: pathOf(conversationId), body: { title } }));
  }

  /**
   * One page of history, oldest first: the newest `limit` messages, or those before seq `before`; with
   * `after`, the oldest `limit` after seq `after` (paging forward, e.g. to fill a gap).
   */
  async page(conversationId: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    const query = new URLSearchParams();
    if (options.before !== undefined) query.set('before', String(options.before));
    if (options.after !== undefined) query.set('after', String(options.after));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const body = await this.api.call<{ messages?: unknown; hasMore?: unknown }>({ method: 'GET', path: `${pathOf(conversationId)}/messages${query.size ? `?${query}` : ''}` });
    const messages = Array.isArray(body?.messages) ? body.messages.map(withBody).filter(isHistoryMessage) : [];
    return { messages, hasMore: body?.hasMore === true };
  }

  /**
   * Pages backwards from `before` (default: the newest), each page oldest first, until the first
   * message; with `after`, forwards from there until the newest (or until `before`).
   */
  async *history(conversationId: string, options: HistoryOptions = {}): AsyncGenerator<HistoryPage, void, undefined> {
    const forward = options.after !== undefined;
    let query = options;
    for (;;) {
      if (!forward && query.before !== undefined && query.before <= 1) return;
      const page = await this.page(conversationId, query);
      if (page.messages.length > 0) yield page;
      if (!page.hasMore || page.messages.length === 0) return;
      query = forward ? { ...query, after: page.messages.at(-1)!.seq } : { ...query, before: page.messages[0]!.seq };
    }
  }
}

function pathOf(conversationId: string): string {
  return `/api/conversations/${encodeURIComponent(conversationId)}`;
}

function conversationOrThrow(value: unknown): Conversation {
  const conversation = conversationOf(value);
  if (!conversation) throw malformed();
  return conversation;
}

function listItemOf(value: unknown): ConversationListItem | undefined {
  const conversation = conversationOf(value);
  if (!conversation) return undefined;
  const item = value as Record<string, unknown>;
  const last = item.lastMessage as Record<string, unknown> | null | undefined;
  return {
    ...conversation,
    ...(typeof item.peer === 'string' ? { peer: item.peer } : {}),
    lastSeq: typeof item.lastSeq === 'number' ? item.lastSeq : 0,
    lastMessage:
      last && typeof last.messageId === 'string' && typeof last.seq === 'number'
        ? { messageId: last.messageId, from: String(last.from), ...versionOf(withBody(last)), ts: Number(last.ts), seq: last.seq }
        : null,
    readSeq: typeof item.readSeq === 'number' ? item.readSeq : 0,
    unread: typeof item.unread === 'number' ? item.unread : 0,
  };
}

/** A tombstone (v1.2) comes without a body: the SDK hands it over with body "" and `deleted: true`. */
function withBody(value: unknown): unknown {
  const m = value as Record<string, unknown> | null;
  return typeof m === 'object' && m !== null && m.deleted === true && m.body === undefined ? { ...m, body: '' } : value;
}

function versionOf(last: unknown): { body: string; editedAt?: number; deleted?: true } {
  const m = last as Record<string, unknown>;
  return { body: String(m.body ?? ''), ...(typeof m.editedAt === 'number' ? { editedAt: m.editedAt } : {}), ...(m.deleted === true ? { deleted: true as const } : {}) };
}

function isHistoryMessage(value: unknown): value is HistoryMessage {
  const m = value as Record<string, unknown> | null;
  return typeof m === 'object' && m !== null && typeof m.messageId === 'string' && typeof m.conversationId === 'string' && typeof m.seq === 'number' && typeof m.from === 'string' && typeof m.body === 'string' && typeof m.ts === 'number';
}

function isMemberReceipt(value: unknown): value is MemberReceipt {
  const r = value as Record<string, unknown> | null;
  return typeof r === 'object' && r !== null && typeof r.userId === 'string' && typeof r.deliveredSeq === 'number' && typeof r.readSeq === 'number';
}

function malformed(): ChatClientError {
  return new ChatClientError('internal', 'The server answered without the expected fields');
}
