// Where a request's token comes from. Rule (docs/protocol.md, "Authentication"): an Authorization
// header, when present, is the only credential considered — a bad Bearer token is refused even if a
// valid cookie is also sent, so a cookie never silently overrides what a client explicitly presented.
import { ChatError } from '../errors.js';
import { TokenError, type JwtVerifier, type Principal } from './jwt.js';

export type TokenSource = { readonly token: string; readonly from: 'bearer' | 'cookie' } | { readonly error: 'no_token' | 'bad_header' };

export function extractToken(authorization: string, cookieHeader: string, cookieName: string): TokenSource {
  if (authorization !== '') {
    const match = /^Bearer[ ]+([A-Za-z0-9_.~+/=-]+)[ ]*$/i.exec(authorization);
    return match ? { token: match[1]!, from: 'bearer' } : { error: 'bad_header' };
  }
  const token = readCookie(cookieHeader, cookieName);
  return token ? { token, from: 'cookie' } : { error: 'no_token' };
}

export function readCookie(header: string, name: string): string | undefined {
  if (header === '') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

export type Authentication =
  | { readonly principal: Principal; readonly from: 'bearer' | 'cookie' }
  /** Why, for the rejection metric and the debug log line (never the token). */
  | { readonly rejected: 'no_token' | 'bad_token' | 'expired' | 'banned' | 'revoked' };

/** The one authentication rule for every door (upgrade, HTTP routes): token source, then the verifier. */
export function authenticate(verifier: JwtVerifier, authorization: string, cookieHeader: string, cookieName: string): Authentication {
  const source = extractToken(authorization, cookieHeader, cookieName);
  if ('error' in source) return { rejected: source.error === 'no_token' ? 'no_token' : 'bad_token' };
  try {
    return { principal: verifier.verify(source.token), from: source.from };
  } catch (error) {
    return { rejected: error instanceof TokenError ? error.reason : 'bad_token' };
  }
}

/**
 * The answer to a refused token, the same on every door (401, or the refused upgrade): `banned` has its
 * own code so that a client stops retrying; a revoked token says why, under `unauthorized`.
 */
export function rejectionError(rejected: Exclude<Authentication, { principal: Principal }>['rejected']): ChatError {
  if (rejected === 'banned') return new ChatError('banned');
  if (rejected === 'revoked') return new ChatError('unauthorized', 'Token revoked; log in again');
  return new ChatError('unauthorized');
}
