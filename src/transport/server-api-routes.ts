// The server API (/api/server/*): for backends and bots, authenticated by SERVER_API_KEY in
// `Authorization: Bearer <key>`, never by a user's token or cookie. Registered only when the key is
// configured (otherwise these paths answer 404 like any unknown route). It acts with full authority
// but through the same doors as clients: sends go through chat.send (same validation, idempotency,
// rate limits), groups through the ConversationService, bans and revocations through AccessControl.
// Neither the key nor a message body is ever logged.
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { presentedServerKey, type ServerKey } from '../auth/server-key.js';
import type { AccessControl } from '../chat/access-control.js';
import type { Chat } from '../chat/create-chat.js';
import type { Config } from '../config.js';
import { ChatError } from '../errors.js';
import { routeError } from './route-error.js';
import type { Logger } from '../log.js';
import { idempotencyKeyOf, userIdParam, validateUserIds } from '../protocol/api-input.js';
import { conversationIdOf } from '../protocol/frames.js';
import { validateServerGroup, validateServerSend } from '../protocol/server-api-input.js';
import { conversationView } from '../protocol/server-frames.js';
import type { AccessRecord } from '../store/access-store.js';
import type { Conversation, Store } from '../store/store.js';
import { decodeParam, parseJson, type ApiAnswer } from './api-route.js';
import { FailureLimiter } from './failure-limit.js';
import { decodeUtf8Body, jsonBodyRefusal, onRoute, readBody, readHeaders, remoteAddress, type ExchangeFactory } from './http.js';

export interface ServerApiDeps {
  readonly config: Config;
  readonly key: ServerKey;
  readonly chat: Chat;
  readonly store: Store;
  readonly access: AccessControl;
  readonly log: Logger;
  readonly isShuttingDown: () => boolean;
}

interface ServerRequest {
  readonly params: readonly string[];
  /** The route's declared headers: absent when not sent, '' when sent empty or unreadable (readHeaders). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

const NO_STORE = { 'cache-control': 'no-store' };

/** Addresses whose wrong keys are remembered; a forgotten one only gets a full budget again. */
const FAILURE_KEYS = 10_000;

export function registerServerApiRoutes(app: TemplatedApp, deps: ServerApiDeps, exchangeFor: ExchangeFactory): void {
  const { config, chat, log } = deps;
  const { limits } = config;
  // Wrong keys per address: a guesser is locked out (every request, the right key too) until its budget refills.
  const failures = new FailureLimiter(config.serverApi.authFailuresPerMin, FAILURE_KEYS);

  const route = (
    method: 'get' | 'post' | 'del',
    pattern: string,
    options: { readonly params?: number; readonly body?: boolean; readonly headers?: readonly string[] },
    handler: (request: ServerRequest) => Promise<ApiAnswer>,
  ) => {
    const serve = (res: HttpResponse, req: HttpRequest, head: boolean) => {
      // Everything uWS lends only during this callback is read now.
      const presented = presentedServerKey(req.getHeader('authorization'));
      const ip = remoteAddress(res, req, config.trustProxy);
      const headers = readHeaders(req, options.headers ?? []);
      const rawParams: string[] = [];
      for (let i = 0; i < (options.params ?? 0); i++) rawParams.push(req.getParameter(i) ?? '');
      const contentType = req.getHeader('content-type');
      const contentEncoding = req.getHeader('content-encoding');
      const contentLength = req.getHeader('content-length');
      const exchange = exchangeFor(res, pattern, head);
      if (deps.isShuttingDown()) return exchange.errorCode('shutting_down', NO_STORE);
      const wait = failures.retryAfterSec(ip);
      if (wait > 0) return exchange.error(new ChatError('rate_limited', 'Too many wrong server API keys from this address; retry later', { retryAfterSec: wait }), NO_STORE);
      if (!deps.key.matches(presented)) {
        if (presented !== '' && failures.fail(ip) > 0) log.warn({ ip, route: pattern }, 'server API: too many wrong keys; refusing this address');
        log.debug({ route: pattern, reason: presented === '' ? 'no_key' : 'wrong_key' }, 'server API request refused: 401');
        return exchange.errorCode('unauthorized', NO_STORE, 'Missing or wrong server API key');
      }
      let body: Promise<Buffer> | undefined;
      if (options.body) {
        const refusal = jsonBodyRefusal(contentType, contentEncoding);
        if (refusal) return exchange.error(refusal, NO_STORE);
        body = readBody(exchange, contentLength, limits.maxHttpBodyBytes, limits);
        body.catch(() => {}); // handled below; avoids an unhandled rejection when a URL parameter fails first
      }
      void (async () => {
        try {
          const params = rawParams.map(decodeParam);
          const value = body ? parseJson(decodeUtf8Body(await body)) : undefined;
          const answer = await handler({ params, headers, body: value });
          if (answer.body === undefined) exchange.respond(answer.status, '', NO_STORE);
          else exchange.json(answer.status, answer.body, NO_STORE);
        } catch (error) {
          if (exchange.aborted) return;
          const chatError = routeError(error);
          // The error and the route only: never the request (its body may hold a message).
          const err = { name: (error as Error).name, message: (error as Error).message };
          if (chatError.code === 'internal') log.error({ err, route: pattern }, 'internal error in a server API route');
          else if (chatError !== error && chatError.code === 'unavailable') log.warn({ err, route: pattern }, 'store unavailable in a server API route: 503');
          exchange.error(chatError, NO_STORE);
        }
      })();
    };
    onRoute(app, method, pattern, serve); // a GET answers HEAD too, as on every other route (RFC 9110)
  };

  route('post', '/api/server/messages', { body: true }, async ({ body }) => {
    const { from, input } = validateServerSend(body, limits);
    const { message, duplicate } = await chat.send(from, input, true);
    return { status: duplicate ? 200 : 201, body: { status: 'SENT', messageId: message.messageId, ts: message.ts, duplicate, conversationId: message.conversationId, seq: message.seq } };
  });

  route('post', '/api/server/groups', { body: true, headers: ['idempotency-key'] }, async ({ body, headers }) => {
    const { ownerId, group } = validateServerGroup(body, limits.maxTitleChars, limits.maxMembersPerAdd);
    const { conversation, created } = await chat.conversations.create(ownerId, group, idempotencyKeyOf(headers['idempotency-key']), true);
    return { status: created ? 201 : 200, body: groupView(conversation) };
  });

  // Member changes act as the group's owner, so the owner's rules (limits, rate) and events apply unchanged.
  route('post', '/api/server/groups/:id/members', { params: 1, body: true }, async ({ params, body }) => {
    const group = await ownedGroup(params[0]);
    const conversation = await chat.conversations.addMembers(group.ownerId, group.conversationId, validateUserIds(body, limits.maxMembersPerAdd), true);
    return { status: 200, body: { conversationId: conversation.conversationId, members: conversation.members } };
  });

  route('del', '/api/server/groups/:id/members/:userId', { params: 2 }, async ({ params }) => {
    const group = await ownedGroup(params[0]);
    await chat.conversations.removeMember(group.ownerId, group.conversationId, userIdParam(params[1]!));
    return { status: 204 };
  });

  route('get', '/api/server/users/:userId/access', { params: 1 }, async ({ params }) => {
    const userId = userIdParam(params[0]!);
    const record = await storeRead(() => deps.store.access.get(userId));
    return { status: 200, body: accessView(record ?? { userId, bannedAt: null, tokensValidAfter: 0, updatedAt: 0 }) };
  });

  route('post', '/api/server/users/:userId/ban', { params: 1 }, async ({ params }) => {
    const record = await deps.access.ban(userIdParam(params[0]!));
    log.info({ userId: record.userId }, 'server API: user banned');
    return { status: 200, body: accessView(record) };
  });

  route('del', '/api/server/users/:userId/ban', { params: 1 }, async ({ params }) => {
    const record = await deps.access.unban(userIdParam(params[0]!));
    log.info({ userId: record.userId }, 'server API: user unbanned');
    return { status: 200, body: accessView(record) };
  });

  route('post', '/api/server/users/:userId/revoke', { params: 1 }, async ({ params }) => {
    const record = await deps.access.revoke(userIdParam(params[0]!));
    log.info({ userId: record.userId }, 'server API: tokens revoked');
    return { status: 200, body: accessView(record) };
  });

  /** The group named in the URL, with its owner (a group nobody is left in is not found). */
  const ownedGroup = async (raw: string | undefined): Promise<Conversation & { ownerId: string }> => {
    const conversationId = conversationIdOf(raw);
    const conversation = await storeRead(() => deps.store.getConversation(conversationId));
    if (!conversation || conversation.kind !== 'group' || conversation.ownerId === null) throw new ChatError('not_found', 'No such group');
    return conversation as Conversation & { ownerId: string };
  };
}

async function storeRead<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new ChatError('unavailable', 'Store unavailable; retry shortly', { retryAfterSec: 1, cause: error });
  }
}

function groupView(conversation: Conversation): Record<string, unknown> {
  return { ...conversationView(conversation), members: conversation.members };
}

function accessView(record: AccessRecord): Record<string, unknown> {
  return { userId: record.userId, banned: record.bannedAt !== null, bannedAt: record.bannedAt, tokensValidAfter: record.tokensValidAfter };
}
