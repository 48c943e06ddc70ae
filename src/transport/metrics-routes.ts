// GET /metrics (x-metrics-key in `secret` mode) and GET /api/metrics (admin tokens). Wrong keys are
// limited per client address (METRICS_AUTH_FAILURES_PER_MIN): past the budget that address gets 429
// for every /metrics request, the right key included, so guessing gets no faster than the budget.
// Keys are never logged, right or wrong.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Principal } from '../auth/jwt.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { ChatError } from '../errors.js';
import { FailureLimiter } from './failure-limit.js';
import { remoteAddress, type Exchange, type ExchangeFactory, type Headers } from './http.js';

export interface MetricsRouteDeps {
  readonly config: Config;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** The caller's principal, or answers 401 and returns undefined (routes.ts). */
export type Authenticate = (exchange: Exchange, authorization: string, cookie: string, extra: Headers, route: string) => Principal | undefined;

/** Addresses whose failures are remembered; a forgotten one only gets a full budget again. */
const FAILURE_KEYS = 100_000;

export function registerMetricsRoutes(app: TemplatedApp, deps: MetricsRouteDeps, exchangeFor: ExchangeFactory, authenticate: Authenticate): void {
  const { config, metrics, log } = deps;
  const { mode, secret, enableAdminRoute } = config.metrics;
  const failures = new FailureLimiter(config.metrics.authFailuresPerMin, FAILURE_KEYS);

  const serve = (exchange: Exchange, wantsJson: boolean) => {
    const output = wantsJson
      ? metrics.registry.getMetricsAsJSON().then((json) => ({ body: JSON.stringify(json), type: 'application/json' }))
      : metrics.registry.metrics().then((text) => ({ body: text, type: metrics.registry.contentType }));
    output.then(
      ({ body, type }) => exchange.respond(200, body, { 'content-type': type, 'cache-control': 'no-store' }),
      (error) => {
        log.error({ err: error }, 'metrics collection failed');
        exchange.errorCode('internal');
      },
    );
  };

  /** True when the request may see the metrics; otherwise answers 429 or 401 and counts a wrong key. */
  const keyAccepted = (exchange: Exchange, key: string, ip: string): boolean => {
    const wait = failures.retryAfterSec(ip);
    if (wait > 0) {
      metrics.rateLimited.inc({ limit: 'metrics_key' });
      exchange.error(new ChatError('rate_limited', 'Too many wrong x-metrics-key attempts; retry later', { retryAfterSec: wait }));
      return false;
    }
    if (secret !== undefined && key !== '' && constantTimeEqual(key, secret)) return true;
    // No key guesses nothing (a scraper without its header); only wrong keys spend the budget.
    if (key !== '') {
      const lockedSec = failures.fail(ip);
      if (lockedSec > 0) log.warn({ ip, route: '/metrics', retryAfterSec: lockedSec }, 'metrics key: too many wrong keys; refusing this address');
    }
    log.debug({ route: '/metrics', reason: key === '' ? 'no_key' : 'wrong_key' }, 'request refused: 401');
    exchange.errorCode('unauthorized', {}, 'Missing or wrong x-metrics-key');
    return false;
  };

  if (mode !== 'off') {
    app.get('/metrics', (res, req) => {
      const key = req.getHeader('x-metrics-key');
      const wantsJson = /application\/json/i.test(req.getHeader('accept'));
      const exchange = exchangeFor(res, '/metrics');
      if (mode === 'secret' && !keyAccepted(exchange, key, remoteAddress(res, req, config.trustProxy))) return;
      serve(exchange, wantsJson);
    });
  }

  if (enableAdminRoute) {
    app.get('/api/metrics', (res, req) => {
      const authorization = req.getHeader('authorization');
      const cookie = req.getHeader('cookie');
      const exchange = exchangeFor(res, '/api/metrics');
      const principal = authenticate(exchange, authorization, cookie, {}, '/api/metrics');
      if (!principal) return;
      if (principal.role !== 'admin') {
        log.debug({ route: '/api/metrics', reason: 'not_admin' }, 'request refused: 403');
        return exchange.errorCode('forbidden', {}, 'Admin role required');
      }
      serve(exchange, true);
    });
  }
}

/** Compares secrets in constant time, whatever their lengths (both sides are hashed first). */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
