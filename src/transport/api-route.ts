// One shape for every JSON API route: read what uWS only lends during the callback (headers, URL
// parameters), authenticate, read and parse the body where there is one, run the handler, and turn a
// thrown ChatError into its status and JSON error. CORS headers on every answer.
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { authenticate, rejectionError } from '../auth/credentials.js';
import type { JwtVerifier, Principal } from '../auth/jwt.js';
import type { Config } from '../config.js';
import { ChatError } from '../errors.js';
import { routeError } from './route-error.js';
import type { Logger } from '../log.js';
import type { ApiReadLimit } from './api-read-limit.js';
import type { CorsPolicy } from './cors.js';
import { decodeUtf8Body, jsonBodyRefusal, onRoute, readBody, readHeaders, type ExchangeFactory } from './http.js';

export interface ApiRequest {
  readonly principal: Principal;
  /** URL parameters, percent-decoded. */
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  /** The route's declared headers: absent when not sent, '' when sent empty or unreadable (readHeaders). */
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON body (routes with a body only). */
  readonly body: unknown;
}

export interface ApiAnswer {
  readonly status: number;
  /** Undefined: no body (204). */
  readonly body?: unknown;
  /** The body already encoded as JSON (a route that weighed its parts), instead of `body`. */
  readonly json?: string;
}

export interface ApiRouteDeps {
  readonly config: Config;
  readonly verifier: JwtVerifier;
  readonly cors: CorsPolicy;
  readonly log: Logger;
  readonly isShuttingDown: () => boolean;
  /** GET routes (and their HEAD) take from it per user; absent: not limited. */
  readonly readLimit?: ApiReadLimit;
}

type Method = 'get' | 'post' | 'patch' | 'del';

export function apiRoute(
  app: TemplatedApp,
  deps: ApiRouteDeps,
  exchangeFor: ExchangeFactory,
  method: Method,
  pattern: string,
  options: { readonly params?: number; readonly body?: boolean; readonly headers?: readonly string[] },
  handler: (request: ApiRequest) => Promise<ApiAnswer>,
): void {
  const { config } = deps;
  const readLimit = method === 'get' ? deps.readLimit : undefined;
  const serve = (res: HttpResponse, req: HttpRequest, head: boolean) => {
    const authorization = req.getHeader('authorization');
    const cookie = req.getHeader('cookie');
    const origin = req.getHeader('origin');
    const corsHeaders = deps.cors.headersFor(origin);
    const headers = readHeaders(req, options.headers ?? []);
    const rawParams: string[] = [];
    for (let i = 0; i < (options.params ?? 0); i++) rawParams.push(req.getParameter(i) ?? '');
    const query = new URLSearchParams(req.getQuery() ?? '');
    const contentType = req.getHeader('content-type');
    const contentEncoding = req.getHeader('content-encoding');
    const contentLength = req.getHeader('content-length');
    const exchange = exchangeFor(res, pattern, head);
    if (deps.isShuttingDown()) return exchange.errorCode('shutting_down', corsHeaders);
    // A write from a page of another origin is refused before anything happens, as the auth routes do.
    // The strict Content-Type check already forces a preflight, which fails; this does not lean on it.
    if (method !== 'get' && origin !== '' && !deps.cors.allows(origin)) return exchange.errorCode('forbidden', corsHeaders, 'Origin not allowed');
    let body: Promise<Buffer> | undefined;
    if (options.body) {
      const refusal = jsonBodyRefusal(contentType, contentEncoding);
      if (refusal) return exchange.error(refusal, corsHeaders);
      // Start reading at once (uWS wants onData attached now), authenticate meanwhile.
      body = readBody(exchange, contentLength, config.limits.maxHttpBodyBytes, config.limits);
      body.catch(() => {}); // handled below; avoids an unhandled rejection when auth fails first
    }
    void (async () => {
      const auth = authenticate(deps.verifier, authorization, cookie, config.cookie.name);
      if (!('principal' in auth)) {
        deps.log.debug({ route: pattern, reason: auth.rejected }, 'request refused: 401');
        return exchange.error(rejectionError(auth.rejected), corsHeaders);
      }
      try {
        const { userId } = auth.principal;
        readLimit?.take(userId);
        const params = rawParams.map(decodeParam);
        const value = body ? parseJson(decodeUtf8Body(await body)) : undefined;
        const answer = await handler({ principal: auth.principal, params, query, headers, body: value });
        if (answer.body === undefined && answer.json === undefined) return exchange.respond(answer.status, '', corsHeaders);
        const json = answer.json ?? JSON.stringify(answer.body);
        readLimit?.charge(userId, json.length);
        exchange.respond(answer.status, json, { ...corsHeaders, 'content-type': 'application/json' });
      } catch (error) {
        if (exchange.aborted) return;
        const chatError = routeError(error);
        if (chatError.code === 'internal') deps.log.error({ err: error, route: pattern }, 'internal error in an API route');
        else if (chatError !== error && chatError.code === 'unavailable') deps.log.warn({ err: { name: (error as Error).name, message: (error as Error).message }, route: pattern }, 'store unavailable in an API route: 503');
        exchange.error(chatError, corsHeaders);
      }
    })();
  };
  onRoute(app, method, pattern, serve);
}

/** A request body as JSON; bad_request when it is not (the server API parses its bodies here too). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ChatError('bad_request', 'Body is not valid JSON');
  }
}

/** A URL parameter, percent-decoded; bad_request when malformed. */
export function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ChatError('bad_request', 'Malformed percent-encoding in the URL');
  }
}
