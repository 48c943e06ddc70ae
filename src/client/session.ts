// The client's credentials and their renewal. Two modes:
// - bearer: a token (or a function returning one) sent as `Authorization: Bearer` on the upgrade;
//   renewed by calling the function, or by POST /api/auth/refresh with the current token.
// - cookie (browsers): the HttpOnly session cookie goes along by itself; the SDK learns its expiry
//   from GET /api/me and renews it with POST /api/auth/refresh (the server sets a new cookie).
import type { FetchLike } from './types.js';

export type SessionResult = 'ok' | 'unauthorized' | 'failed';

export class Session {
  readonly mode: 'bearer' | 'cookie';
  private token: string | undefined;
  /** When the credential expires (ms), once known. */
  expiresAt: number | undefined;
  /** Whose credential this is (the token's `sub`, or GET /api/me's answer), once known. */
  userId: string | undefined;

  constructor(
    private readonly source: string | (() => string | Promise<string>) | undefined,
    readonly httpUrl: string,
    readonly fetch: FetchLike | undefined,
  ) {
    this.mode = source === undefined ? 'cookie' : 'bearer';
    if (typeof source === 'string') this.setToken(source);
  }

  /** Headers for the upgrade request (none in cookie mode: the browser adds the cookie). */
  async upgradeHeaders(): Promise<Record<string, string>> {
    if (this.mode === 'cookie') return {};
    if (this.token === undefined && typeof this.source === 'function') this.setToken(await this.source());
    return { authorization: `Bearer ${this.token}` };
  }

  /** What an HTTP API request carries: the Bearer header, or the browser's cookies. */
  async requestAuth(): Promise<{ headers?: Record<string, string>; credentials?: 'include' }> {
    if (this.mode === 'cookie') return { credentials: 'include' };
    return { headers: await this.upgradeHeaders() };
  }

  /** True when the credential is known to expire within `marginMs`. */
  expiresWithin(marginMs: number, now: number = Date.now()): boolean {
    return this.expiresAt !== undefined && this.expiresAt - now <= marginMs;
  }

  /** Gets a fresh credential. */
  async refresh(): Promise<SessionResult> {
    if (typeof this.source === 'function') {
      try {
        this.setToken(await this.source());
        return 'ok';
      } catch {
        return 'failed';
      }
    }
    const answer = await this.request('POST', '/api/auth/refresh');
    if (answer.result !== 'ok') return answer.result;
    const body = answer.body as { token?: unknown; expiresAt?: unknown };
    if (this.mode === 'bearer') {
      if (typeof body.token !== 'string') return 'failed';
      this.setToken(body.token);
    } else if (typeof body.expiresAt === 'number') {
      this.expiresAt = body.expiresAt;
    }
    return 'ok';
  }

  /** Asks the server whether the credential is still good (GET /api/me), learning its expiry. */
  async check(): Promise<SessionResult> {
    const answer = await this.request('GET', '/api/me');
    if (answer.result === 'ok') {
      const body = answer.body as { expiresAt?: unknown; userId?: unknown };
      if (typeof body.expiresAt === 'number') this.expiresAt = body.expiresAt;
      if (typeof body.userId === 'string') this.userId = body.userId;
    }
    return answer.result;
  }

  private async request(method: string, path: string): Promise<{ result: SessionResult; body?: unknown }> {
    if (!this.fetch) return { result: 'failed' };
    try {
      const response = await this.fetch(this.httpUrl + path, {
        method,
        ...(this.mode === 'bearer' ? { headers: { authorization: `Bearer ${this.token}` } } : { credentials: 'include' as const }),
      });
      if (response.status === 401) return { result: 'unauthorized' };
      if (response.status !== 200) return { result: 'failed' };
      return { result: 'ok', body: await response.json() };
    } catch {
      return { result: 'failed' };
    }
  }

  private setToken(token: string): void {
    this.token = token;
    this.expiresAt = tokenExpiry(token);
    this.userId = tokenClaims(token)?.sub ?? this.userId;
  }
}

/** The `exp` of a JWT in ms, read without verifying (the server verifies); undefined if unreadable. */
export function tokenExpiry(token: string): number | undefined {
  const exp = tokenClaims(token)?.exp;
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

/** A JWT's payload, read without verifying (the server verifies); undefined if unreadable. */
function tokenClaims(token: string): { exp?: unknown; sub?: string } | undefined {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const claims = JSON.parse(json) as { exp?: unknown; sub?: unknown };
    return { exp: claims.exp, ...(typeof claims.sub === 'string' ? { sub: claims.sub } : {}) };
  } catch {
    return undefined;
  }
}

/** http(s) base of a ws(s) URL: same host, same port. */
export function httpBaseOf(wsUrl: string): string {
  const url = new URL(wsUrl);
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
}
