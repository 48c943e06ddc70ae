// CORS for the allowed origins (CORS_ORIGIN; any origin outside production when it is unset).
// Credentials are allowed, so the allowed origin is echoed back, never `*`.
import type { Headers } from './http.js';

export class CorsPolicy {
  constructor(private readonly origins: readonly string[] | '*') {}

  allows(origin: string): boolean {
    return this.origins === '*' || this.origins.includes(origin);
  }

  /** Headers for a response to a request with this Origin header ('' when absent). */
  headersFor(origin: string): Headers {
    if (origin === '' || !this.allows(origin)) return { vary: 'Origin' };
    return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
  }

  preflightHeaders(origin: string): Headers {
    return {
      ...this.headersFor(origin),
      'access-control-allow-methods': 'GET, POST, PATCH, DELETE, OPTIONS',
      'access-control-allow-headers': 'content-type, authorization, idempotency-key, x-metrics-key, x-known-device',
      'access-control-max-age': '600',
    };
  }
}
