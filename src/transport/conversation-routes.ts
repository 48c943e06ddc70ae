// The conversation API (protocol v1.1, docs/protocol.md): groups, members, the list and history.
// Every route answers a non-member 404, so a conversation's existence does not leak.
import type { TemplatedApp } from 'uWebSockets.js';
import type { Chat } from '../chat/create-chat.js';
import { idempotencyKeyOf, listCursorParam, nonNegativeIntParam, positiveIntParam, userIdParam, validateNewGroup, validateTitle, validateUserIds } from '../protocol/api-input.js';
import { encodeHistoryPage, encodeListPage, eventAnswerView, listItemView } from '../protocol/api-views.js';
import { conversationIdOf, isPlainObject, validateDeleteInput, validateEditInput } from '../protocol/frames.js';
import { conversationView } from '../protocol/server-frames.js';
import { apiRoute, type ApiRouteDeps } from './api-route.js';
import type { ExchangeFactory } from './http.js';

const DEFAULT_PAGE = 50;

export function registerConversationRoutes(app: TemplatedApp, deps: ApiRouteDeps & { readonly chat: Chat }, exchangeFor: ExchangeFactory): void {
  const { chat, config } = deps;
  const { limits } = config;
  const conversations = chat.conversations;
  const route = apiRoute.bind(null, app, deps, exchangeFor);

  route('post', '/api/conversations', { body: true, headers: ['idempotency-key'] }, async ({ principal, body, headers }) => {
    const input = validateNewGroup(body, limits.maxTitleChars, limits.maxMembersPerAdd);
    const { conversation, created } = await conversations.create(principal.userId, input, idempotencyKeyOf(headers['idempotency-key']));
    return { status: created ? 201 : 200, body: { ...conversationView(conversation), members: conversation.members } };
  });

  route('get', '/api/conversations', {}, async ({ principal, query }) => {
    const page = await conversations.list(principal.userId, positiveIntParam(query, 'limit') ?? DEFAULT_PAGE, listCursorParam(query));
    return { status: 200, json: encodeListPage(page.items, principal.userId, page.next, limits.apiPageMaxBytes) };
  });

  route('get', '/api/conversations/:id', { params: 1 }, async ({ principal, params }) => {
    const { item, members } = await conversations.item(principal.userId, conversationIdOf(params[0]));
    return { status: 200, body: { ...listItemView(item, principal.userId), ...(members ? { receipts: members } : {}) } };
  });

  route('get', '/api/conversations/:id/messages', { params: 1 }, async ({ principal, params, query }) => {
    const before = positiveIntParam(query, 'before');
    // Paging forward (since 2026-12-07): the oldest page after seq `after`, e.g. to fill a gap.
    const after = nonNegativeIntParam(query, 'after');
    const limit = positiveIntParam(query, 'limit') ?? DEFAULT_PAGE;
    const page = await conversations.history(principal.userId, conversationIdOf(params[0]), before, limit, after);
    return { status: 200, json: encodeHistoryPage(page.messages, page.hasMore, limits.apiPageMaxBytes, after !== undefined) };
  });

  // v1.2: edit (the author) and delete (the author, or a group's owner) a message, as ordered events.
  route('patch', '/api/conversations/:id/messages/:messageId', { params: 2, body: true }, async ({ principal, params, body }) => {
    const input = validateEditInput({ ...(isPlainObject(body) ? body : {}), messageId: params[1] }, limits);
    const { event, message, duplicate } = await chat.edit(principal.userId, conversationIdOf(params[0]), input);
    return { status: 200, body: eventAnswerView(event, message, duplicate) };
  });

  route('del', '/api/conversations/:id/messages/:messageId', { params: 2 }, async ({ principal, params }) => {
    const { event, message, duplicate } = await chat.deleteMessage(principal.userId, conversationIdOf(params[0]), validateDeleteInput({ messageId: params[1] }));
    return { status: 200, body: eventAnswerView(event, message, duplicate) };
  });

  route('post', '/api/conversations/:id/members', { params: 1, body: true }, async ({ principal, params, body }) => {
    const conversationId = conversationIdOf(params[0]);
    const conversation = await conversations.addMembers(principal.userId, conversationId, validateUserIds(body, limits.maxMembersPerAdd));
    return { status: 200, body: { conversationId, members: conversation.members } };
  });

  route('del', '/api/conversations/:id/members/:userId', { params: 2 }, async ({ principal, params }) => {
    await conversations.removeMember(principal.userId, conversationIdOf(params[0]), userIdParam(params[1]!));
    return { status: 204 };
  });

  route('patch', '/api/conversations/:id', { params: 1, body: true }, async ({ principal, params, body }) => {
    const conversation = await conversations.setTitle(principal.userId, conversationIdOf(params[0]), validateTitle(body, limits.maxTitleChars));
    return { status: 200, body: { ...conversationView(conversation), members: conversation.members } };
  });
}

