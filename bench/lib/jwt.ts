// Test tokens for benchmark clients, signed exactly like real ones would be
// (HS256, sub = user id, exp), so the server's auth path is part of what we measure.

import { SignJWT } from 'jose';

export interface TokenOptions {
  /** Lifetime in seconds; long by default so long soaks never see expiry. */
  ttlSeconds?: number;
  /** Extra claims, e.g. for a server that checks iss/aud. */
  claims?: Record<string, unknown>;
}

const encoder = new TextEncoder();

export async function signTestToken(userId: string, secret: string, opts: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...opts.claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 24 * 3600))
    .sign(encoder.encode(secret));
}

/** Sign many tokens at once (one per user id), keyed by user id. */
export async function signTestTokens(
  userIds: readonly string[],
  secret: string,
  opts: TokenOptions = {},
): Promise<Map<string, string>> {
  const tokens = await Promise.all(userIds.map((u) => signTestToken(u, secret, opts)));
  return new Map(userIds.map((u, i) => [u, tokens[i]!]));
}
