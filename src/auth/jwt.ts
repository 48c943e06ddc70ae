// HS256 JWT verification and signing. The algorithm is pinned: `alg: none`, HS512, RS256 and anything
// else are rejected before the signature is looked at. Verified tokens are cached (bounded, never past
// their `exp`) so that a client reconnecting or POSTing with the same token costs one HMAC, not one per request.
//
// Verification is synchronous (fast-jwt over node:crypto) on purpose: the WebSocket upgrade must be
// completed inside uWS's upgrade callback. An upgrade completed later (after an awaited verify, through
// res.cork) can be closed by uWS right after `open` (uNetworking/uWebSockets#1928, fixed upstream by
// #1929, not in the uWS build we run); uncorked it prints a warning per connection. jose's verify is
// WebCrypto, async only; jose still signs.
import { createVerifier, TokenError as JwtLibraryError } from 'fast-jwt';
import { SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { SYSTEM_USER_ID, USER_ID_PATTERN } from '../protocol/ids.js';
import type { AccessCheck, AccessRefusal } from './access-list.js';

export interface Principal {
  readonly userId: string;
  readonly role: 'admin' | undefined;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
  /** Issue time, seconds since the epoch; undefined when the token has none (revocations refuse those). */
  readonly iat: number | undefined;
  /** `sst`: when the session this token renews began (login), seconds since the epoch; refresh keeps it (JWT_SESSION_MAX). */
  readonly sst: number | undefined;
}

export type TokenRejection = 'bad_token' | 'expired' | AccessRefusal;

export class TokenError extends Error {
  constructor(readonly reason: TokenRejection, message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface JwtOptions {
  readonly secret: string;
  readonly audience?: string | undefined;
  readonly issuer?: string | undefined;
  readonly cacheMax?: number;
  /** Bans and revocations (src/auth/access-list.ts), checked on every verify, cached tokens included. */
  readonly access?: AccessCheck;
}

const ALGORITHM = 'HS256';

/** The latest `exp` accepted: 9999-12-31T23:59:59Z, the last second a JavaScript Date's ISO form holds. */
const MAX_EXP_SEC = 253_402_300_799;

/**
 * How far in the future a token's `iat` may be (clock skew between issuer and server). Past it the
 * token is refused: an iat to come would outlive every revocation made before it.
 */
const IAT_MAX_SKEW_SEC = 60;

export class JwtVerifier {
  private readonly cache: LRUCache<string, Principal>;
  private readonly check: (token: string) => Record<string, unknown>;
  private readonly access: AccessCheck | undefined;

  constructor(options: JwtOptions) {
    this.cache = new LRUCache({ max: options.cacheMax ?? 10_000 });
    this.access = options.access;
    this.check = createVerifier({
      key: options.secret,
      algorithms: [ALGORITHM],
      // fast-jwt checks aud/iss only when present: a configured one must also be required.
      requiredClaims: ['exp', 'sub', ...(options.audience ? ['aud'] : []), ...(options.issuer ? ['iss'] : [])],
      ...(options.audience ? { allowedAud: options.audience } : {}),
      ...(options.issuer ? { allowedIss: options.issuer } : {}),
      cache: false, // ours below also remembers the principal and honours exp
    });
  }

  /** The token's principal; throws TokenError. Synchronous: see the note at the top of this file. */
  verify(token: string, nowMs: number = Date.now()): Principal {
    const principal = this.signed(token, nowMs);
    const refusal = this.access?.refusal(principal.userId, principal.iat);
    if (refusal === 'banned') throw new TokenError('banned', 'user is banned');
    if (refusal === 'revoked') throw new TokenError('revoked', 'token revoked');
    return principal;
  }

  /** The principal of a well-signed, unexpired token (cached). */
  private signed(token: string, nowMs: number): Principal {
    const cached = this.cache.get(token);
    if (cached) {
      if (cached.exp * 1000 > nowMs) return cached;
      this.cache.delete(token);
      throw new TokenError('expired', 'token expired');
    }
    if (token.length > 4096) throw new TokenError('bad_token', 'token too long');
    let payload: Record<string, unknown>;
    try {
      payload = this.check(token);
    } catch (error) {
      if (error instanceof JwtLibraryError && error.code === JwtLibraryError.codes.expired) throw new TokenError('expired', 'token expired');
      throw new TokenError('bad_token', 'invalid token');
    }
    const { sub, exp, role, iat, sst } = payload;
    if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) throw new TokenError('bad_token', 'invalid sub claim');
    // The system user speaks only through the server API, never with a token. Only that one id: any
    // other sub of the v1 rule stays valid, since external issuers may already mint '@'-prefixed ids.
    if (sub === SYSTEM_USER_ID) throw new TokenError('bad_token', 'reserved sub claim');
    // Past year 9999 no Date holds it (GET /api/me's expiresAt would be null), and it would never expire.
    if (typeof exp !== 'number' || !(exp <= MAX_EXP_SEC)) throw new TokenError('bad_token', 'invalid exp claim');
    if (exp * 1000 <= nowMs) throw new TokenError('expired', 'token expired');
    const principal: Principal = Object.freeze({
      userId: sub,
      role: role === 'admin' ? 'admin' : undefined,
      exp,
      iat: pastTimeClaim('iat', iat, nowMs),
      sst: pastTimeClaim('sst', sst, nowMs),
    });
    this.cache.set(token, principal);
    return principal;
  }
}

/** An optional time claim (`iat`, `sst`): absent, or a number of seconds not after now (IAT_MAX_SKEW_SEC allowed). */
function pastTimeClaim(name: string, value: unknown, nowMs: number): number | undefined {
  if (value !== undefined && (typeof value !== 'number' || !(value <= nowMs / 1000 + IAT_MAX_SKEW_SEC))) throw new TokenError('bad_token', `invalid ${name} claim`);
  return value;
}

export interface SignOptions {
  readonly secret: string;
  readonly userId: string;
  readonly ttlSec: number;
  readonly role?: 'admin';
  readonly audience?: string | undefined;
  readonly issuer?: string | undefined;
  /** `sst`: when the session began (seconds); refresh carries it on, so a session ends JWT_SESSION_MAX after its login. */
  readonly sessionStart?: number;
}

export async function signToken(options: SignOptions): Promise<string> {
  let jwt = new SignJWT({ ...(options.role ? { role: options.role } : {}), ...(options.sessionStart !== undefined ? { sst: options.sessionStart } : {}) })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(options.userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlSec);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
