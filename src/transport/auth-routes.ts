// Accounts over HTTP: register, login, refresh, logout, me. Success sets the JWT in the session cookie
// (browsers) and returns {userId, expiresAt}; the token itself is in the body only when asked for
// (`"bearer": true` on register/login, or a refresh authenticated with a Bearer token).
//
// Login answers a wrong username and a wrong password identically, after the same scrypt work, and is
// rate limited per client address and per username (429 + Retry-After); a device that logged in as
// that user before takes from its own bucket instead of the username's (src/auth/known-device.ts).
// A request carrying an Origin outside CORS_ORIGIN is refused (403) before anything happens: with
// cookies, that is what stops a cross-site page from logging a browser in or out.
import { decodeJwt } from 'jose';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { parseCredentials, type Credentials } from '../auth/account-input.js';
import { KnownDevices } from '../auth/known-device.js';
import { authenticate as authenticateRequest, readCookie, rejectionError } from '../auth/credentials.js';
import { signToken, type JwtVerifier, type Principal } from '../auth/jwt.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { AccessControl } from '../chat/access-control.js';
import { SendRateLimiter } from '../chat/rate-limit.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { ChatError, toChatError } from '../errors.js';
import { usernameKey, type UserStore } from '../store/users.js';
import type { ApiReadLimit } from './api-read-limit.js';
import type { CorsPolicy } from './cors.js';
import { countingExchanges, decodeUtf8Body, Exchange, getAndHead, jsonBodyRefusal, readBody, remoteAddress, type Headers } from './http.js';
import { clearedSessionCookie, knownDeviceCookie, knownDeviceCookieName, sessionCookie } from './session-cookie.js';
import { apiRoute } from './api-route.js';
import { userIdParam } from '../protocol/api-input.js';
import { isReservedUserId, RESERVED_USER_PREFIX } from '../protocol/ids.js';

export interface AuthRouteDeps {
  readonly config: Config;
  readonly verifier: JwtVerifier;
  readonly cors: CorsPolicy;
  readonly users: UserStore;
  readonly hasher: PasswordHasher;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly isShuttingDown: () => boolean;
  /** Bans and revocations: no token is signed for a banned user, nor inside a revocation's second. */
  readonly access: AccessControl;
  /** The account lookup is an API read like the conversation routes. */
  readonly readLimit?: ApiReadLimit;
}

/** A username, a password of up to 1024 characters (6 bytes each as JSON escapes) and a flag. */
const AUTH_BODY_MAX_BYTES = 8192;
/** Buckets kept per limiter; an evicted bucket only means a full burst again. */
const LIMITER_KEYS = 100_000;
const WRONG_CREDENTIALS = 'Wrong username or password';

/** What a handler needs from the request, read before the first await (uWS frees the request after). */
interface AuthRequest {
  readonly exchange: Exchange;
  readonly headers: Headers;
  readonly ip: string;
  readonly authorization: string;
  readonly cookie: string;
  readonly contentType: string;
  readonly contentEncoding: string;
  readonly contentLength: string;
  /** A known-device proof: the `X-Known-Device` header (Bearer clients), else the device cookie. */
  readonly knownDevice: string | undefined;
}

export function registerAuthRoutes(app: TemplatedApp, deps: AuthRouteDeps): void {
  const { config, users, hasher, metrics, log, cors } = deps;
  const perIp = new SendRateLimiter(config.authRate.perIpPerMin / 60, config.authRate.perIpPerMin, LIMITER_KEYS);
  const perUser = new SendRateLimiter(config.authRate.perUserPerMin / 60, config.authRate.perUserPerMin, LIMITER_KEYS);
  // A device that logged in as the user before has a bucket of its own, of the same size.
  const perKnownDevice = new SendRateLimiter(config.authRate.perUserPerMin / 60, config.authRate.perUserPerMin, LIMITER_KEYS);
  const knownDevices = new KnownDevices(config.jwt.secret, config.authRate.knownDeviceTtlSec);
  const exchangeFor = countingExchanges(metrics);
  hasher.prepare().catch((error: unknown) => log.warn({ err: error }, 'password hasher warm-up failed'));

  const limit = (limiter: SendRateLimiter, key: string, what: string) => {
    const wait = limiter.take(key);
    if (wait === 0) return;
    metrics.rateLimited.inc({ limit: what });
    throw new ChatError('rate_limited', 'Too many attempts; retry later', { retryAfterSec: wait });
  };

  const storeCall = async <T>(operation: Promise<T>): Promise<T> => {
    try {
      return await operation;
    } catch (error) {
      log.warn({ err: { name: (error as Error).name, message: (error as Error).message } }, 'user store failed');
      throw new ChatError('unavailable', 'Account store unavailable; retry shortly', { retryAfterSec: 1, cause: error });
    }
  };

  /** Signs a token for `userId`, answers with the cookie and {userId, expiresAt[, token]}. */
  const issue = async (
    request: AuthRequest,
    status: number,
    userId: string,
    options: { role?: 'admin'; cookie: boolean; bearer: boolean; presented?: Principal; knownDevice?: boolean },
  ) => {
    await deps.access.issuable(userId, options.presented);
    const { sessionStart, ttlSec } = sessionOf(options.presented, config.jwt.ttlSec, config.jwt.sessionMaxSec);
    const token = await signToken({
      secret: config.jwt.secret,
      userId,
      ttlSec,
      audience: config.jwt.audience,
      issuer: config.jwt.issuer,
      sessionStart,
      ...(options.role ? { role: options.role } : {}),
    });
    const expiresAt = (decodeJwt(token).exp ?? 0) * 1000;
    const cookies = options.cookie ? [sessionCookie(config, token, ttlSec)] : [];
    // After a password check: this device knows the password, so its next logins skip the shared bucket.
    const proof = options.knownDevice && knownDevices.enabled ? knownDevices.issue(usernameKey(userId)) : undefined;
    if (proof) cookies.push(knownDeviceCookie(config, proof, knownDevices.ttlSec));
    const body = { userId, expiresAt, ...(options.bearer ? { token, ...(proof ? { knownDevice: proof } : {}) } : {}) };
    request.exchange.json(status, body, { ...request.headers, ...(cookies.length > 0 ? { 'set-cookie': cookies } : {}) });
  };

  const authenticate = (request: AuthRequest, route: string): { principal: Principal; from: 'bearer' | 'cookie' } => {
    const result = authenticateRequest(deps.verifier, request.authorization, request.cookie, config.cookie.name);
    if ('principal' in result) return result;
    log.debug({ route, reason: result.rejected }, 'request refused: 401');
    throw rejectionError(result.rejected);
  };

  const readCredentials = async (request: AuthRequest, body: Promise<Buffer>): Promise<Credentials> => {
    const refusal = jsonBodyRefusal(request.contentType, request.contentEncoding);
    if (refusal) throw refusal;
    // Strict: leniently decoded, invalid bytes became U+FFFD and different passwords matched.
    const text = decodeUtf8Body(await body);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ChatError('bad_request', 'Body is not valid JSON');
    }
    return parseCredentials(value);
  };

  /**
   * Registers a POST route: reads the request, refuses foreign origins and shutdown, runs `handle`
   * (with the body being read when `withBody`), and turns anything thrown into an error response.
   */
  const post = (path: string, withBody: boolean, handle: (request: AuthRequest, body: Promise<Buffer>) => Promise<void>) => {
    app.post(path, (res: HttpResponse, req) => {
      const origin = req.getHeader('origin');
      const request: AuthRequest = {
        exchange: exchangeFor(res, path),
        headers: { ...cors.headersFor(origin), 'cache-control': 'no-store' },
        ip: remoteAddress(res, req, config.trustProxy),
        authorization: req.getHeader('authorization'),
        cookie: req.getHeader('cookie'),
        contentType: req.getHeader('content-type'),
        contentEncoding: req.getHeader('content-encoding'),
        contentLength: req.getHeader('content-length'),
        knownDevice: req.getHeader('x-known-device') || readCookie(req.getHeader('cookie'), knownDeviceCookieName(config)),
      };
      const { exchange } = request;
      if (deps.isShuttingDown()) return exchange.errorCode('shutting_down', request.headers);
      if (origin !== '' && !cors.allows(origin)) return exchange.errorCode('forbidden', request.headers, 'Origin not allowed');
      // uWS wants onData attached now, before any await.
      const body = withBody ? readBody(exchange, request.contentLength, AUTH_BODY_MAX_BYTES, config.limits) : Promise.resolve(Buffer.alloc(0));
      body.catch(() => {}); // surfaced by readCredentials; avoids an unhandled rejection on early refusals
      handle(request, body).catch((error: unknown) => {
        if (exchange.aborted) return;
        const chatError = toChatError(error);
        if (chatError.code === 'internal') log.error({ err: error, route: path }, 'internal error in an auth route');
        exchange.error(chatError, request.headers);
      });
    });
  };

  post('/api/auth/register', true, async (request, body) => {
    if (!config.allowSignup) throw new ChatError('forbidden', 'Signup is closed');
    limit(perIp, request.ip, 'auth_ip');
    const { username, password, bearer } = await readCredentials(request, body);
    if (isReservedUserId(username)) throw new ChatError('bad_request', `Usernames starting with "${RESERVED_USER_PREFIX}" are reserved for the server`);
    const passwordHash = await hasher.hash(password);
    const result = await storeCall(users.create(username, passwordHash));
    if (result.kind === 'taken') throw new ChatError('conflict', 'Username is taken');
    log.info({ userId: username }, 'account registered');
    await issue(request, 201, result.user.username, { cookie: true, bearer, knownDevice: true });
  });

  post('/api/auth/login', true, async (request, body) => {
    limit(perIp, request.ip, 'auth_ip');
    const { username, password, bearer } = await readCredentials(request, body);
    const device = knownDevices.verify(usernameKey(username), request.knownDevice);
    if (device !== undefined) limit(perKnownDevice, device, 'auth_device');
    else limit(perUser, usernameKey(username), 'auth_user');
    const user = await storeCall(users.find(username));
    // Unknown user: the same scrypt work against a dummy hash, then the same answer as a wrong password.
    const ok = await hasher.verify(password, user?.passwordHash);
    if (!ok || !user) throw new ChatError('unauthorized', WRONG_CREDENTIALS);
    await issue(request, 200, user.username, { cookie: true, bearer, knownDevice: true });
  });

  post('/api/auth/refresh', false, async (request) => {
    const { principal, from } = authenticate(request, '/api/auth/refresh');
    // Browsers (cookie) get a new cookie; Bearer clients get the new token in the body.
    await issue(request, 200, principal.userId, { ...(principal.role ? { role: principal.role } : {}), cookie: from === 'cookie', bearer: from === 'bearer', presented: principal });
  });

  // Log out everywhere: every token of the caller issued up to now is refused on every instance, and
  // their open sockets close with 4001. The cookie is cleared as by logout.
  post('/api/auth/logout-all', false, async (request) => {
    const { principal } = authenticate(request, '/api/auth/logout-all');
    await deps.access.revoke(principal.userId);
    log.info({ userId: principal.userId }, 'logged out everywhere: tokens revoked');
    request.exchange.respond(204, '', { ...request.headers, 'set-cookie': clearedSessionCookie(config) });
  });

  post('/api/auth/logout', false, async (request) => {
    // Clears the cookie. The JWT itself stays valid until it expires (stateless tokens; keep JWT_TTL short if that matters).
    request.exchange.respond(204, '', { ...request.headers, 'set-cookie': clearedSessionCookie(config) });
  });

  getAndHead(app, '/api/me', (res, req, head) => {
    const request: AuthRequest = {
      exchange: exchangeFor(res, '/api/me', head),
      headers: { ...cors.headersFor(req.getHeader('origin')), 'cache-control': 'no-store' },
      ip: '',
      authorization: req.getHeader('authorization'),
      cookie: req.getHeader('cookie'),
      contentType: '',
      contentEncoding: '',
      contentLength: '',
      knownDevice: undefined,
    };
    try {
      const { principal } = authenticate(request, '/api/me');
      request.exchange.json(200, { userId: principal.userId, expiresAt: principal.exp * 1000, ...(principal.role ? { role: principal.role } : {}) }, request.headers);
    } catch (error) {
      request.exchange.error(toChatError(error), request.headers);
    }
  });

  // Does this server have an account by that name? (The demo warns before a direct message to a user
  // nobody registered here; tokens from other issuers stay valid, so it is a notice, not a refusal.)
  // Authenticated, so it is no more an enumeration door than sending is.
  const lookupDeps = { config, verifier: deps.verifier, cors, log: deps.log, isShuttingDown: deps.isShuttingDown, readLimit: deps.readLimit };
  apiRoute(app, lookupDeps, exchangeFor, 'get', '/api/users/:userId', { params: 1 }, async ({ params }) => {
    const user = await deps.users.find(userIdParam(params[0]!));
    if (!user) throw new ChatError('not_found', 'No account by that name on this server');
    return { status: 200, body: { userId: user.username, exists: true } };
  });
}

/**
 * The session a new token belongs to, and its lifetime. A login starts one now. A refresh keeps the
 * presented token's (its `sst`, else its `iat`: a token minted elsewhere starts its session when it
 * was issued) and ends it JWT_SESSION_MAX after that start: refreshed again and again, a stolen
 * cookie, or an identity provider's 60-second token, was renewed for ever (attacker probe).
 */
function sessionOf(presented: Principal | undefined, ttlSec: number, sessionMaxSec: number): { sessionStart: number; ttlSec: number } {
  const now = Math.floor(Date.now() / 1000);
  if (!presented) return { sessionStart: now, ttlSec };
  // Without either, a session would start again at each refresh past its end (re-check probe).
  const began = presented.sst ?? presented.iat;
  if (began === undefined) throw new ChatError('unauthorized', 'A token without iat cannot be refreshed: log in again');
  const sessionStart = Math.min(now, began);
  const left = sessionStart + sessionMaxSec - now;
  if (left <= 0) throw new ChatError('unauthorized', 'This session is older than JWT_SESSION_MAX: log in again');
  return { sessionStart, ttlSec: Math.min(ttlSec, left) };
}
