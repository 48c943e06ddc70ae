// HTTP routes on the same uWS app: health, readiness, the HTTP door of the send path (metrics: metrics-routes.ts).
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { authenticate as authenticateRequest, rejectionError } from '../auth/credentials.js';
import type { JwtVerifier, Principal } from '../auth/jwt.js';
import type { SendInput } from '../chat/commands.js';
import type { SendOutcome } from '../chat/send.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { validateSendInput } from '../protocol/frames.js';
import type { Store } from '../store/store.js';
import type { CorsPolicy } from './cors.js';
import { apiRoute } from './api-route.js';
import { countingExchanges, Exchange, getAndHead, type Headers } from './http.js';
import { ALIVE, readiness } from './health.js';
import { registerMetricsRoutes } from './metrics-routes.js';
import type { RouteTable } from './route-table.js';

export interface RouteDeps {
  readonly config: Config;
  readonly verifier: JwtVerifier;
  readonly cors: CorsPolicy;
  /** The send path (the chat domain). */
  readonly sender: { send(userId: string, input: SendInput): Promise<SendOutcome> };
  readonly store: Store;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly isShuttingDown: () => boolean;
  /** True from the signal on (also during SHUTDOWN_DRAIN_DELAY_MS, while everything else is still served). */
  readonly isDraining: () => boolean;
  /** Every route registered, for the catch-all's 405 and 426 (registered last: it sees all the others). */
  readonly routeTable: RouteTable;
}

export function registerRoutes(app: TemplatedApp, deps: RouteDeps): void {
  const { config, metrics, cors } = deps;
  const exchangeFor = countingExchanges(metrics);

  /** The caller's principal, or answers 401 (logged at debug, without the token) and returns undefined. */
  const authenticate = (exchange: Exchange, authorization: string, cookie: string, extra: Headers, route: string): Principal | undefined => {
    const result = authenticateRequest(deps.verifier, authorization, cookie, config.cookie.name);
    if ('principal' in result) return result.principal;
    deps.log.debug({ route, reason: result.rejected }, 'request refused: 401');
    exchange.error(rejectionError(result.rejected), extra);
    return undefined;
  };

  // HEAD too: health checkers use it. `head` answers carry the headers and Content-Length, no body.
  getAndHead(app, '/healthz', (res, _req, head) => exchangeFor(res, '/healthz', head).json(ALIVE.status, ALIVE.body));
  getAndHead(app, '/readyz', (res, _req, head) => {
    const exchange = exchangeFor(res, '/readyz', head);
    void readiness(deps).then(({ status, body }) => exchange.json(status, body));
  });

  // The HTTP door of the send path. v1 answers keep their fields; v1.1 adds conversationId and seq.
  apiRoute(app, deps, exchangeFor, 'post', '/api/messages', { body: true }, async ({ principal, body }) => {
    const input = validateSendInput(body, config.limits);
    const { message, duplicate } = await deps.sender.send(principal.userId, input);
    const answer = { status: 'SENT', messageId: message.messageId, ts: message.ts, duplicate, conversationId: message.conversationId, seq: message.seq };
    return { status: duplicate ? 200 : 201, body: answer };
  });

  registerMetricsRoutes(app, deps, exchangeFor, authenticate);

  app.options('/*', (res, req) => {
    const origin = req.getHeader('origin');
    const exchange = exchangeFor(res, 'OPTIONS');
    if (origin !== '' && !cors.allows(origin)) return exchange.errorCode('forbidden', { vary: 'Origin' });
    exchange.respond(204, '', cors.preflightHeaders(origin));
  });

  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const corsHeaders = cors.headersFor(req.getHeader('origin'));
    const method = req.getMethod();
    // A body after a HEAD answer would be read by a keep-alive client as the next response.
    const exchange = exchangeFor(res, 'unknown', method === 'head');
    const known = deps.routeTable.methodsFor(req.getUrl());
    if (known === undefined) return exchange.errorCode('not_found', corsHeaders);
    // Only the WebSocket route lets a GET through to here: one without the upgrade.
    if (known.websocket && method === 'get') return exchange.errorCode('upgrade_required', { ...corsHeaders, upgrade: 'websocket' });
    exchange.errorCode('method_not_allowed', { ...corsHeaders, allow: known.allow });
  });
}
