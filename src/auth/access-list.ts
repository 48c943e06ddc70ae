// This instance's view of who is banned and whose tokens are revoked, checked on every token use
// (upgrade and HTTP) synchronously: a few Map lookups, no I/O. The store (src/store/access-store.ts)
// is the truth; src/chat/access-control.ts loads this view at start and keeps it current from the bus
// and a periodic refresh. One entry per user who ever had a record (a ban or a revocation): small.
//
// Revocation and the JWT `iat` (whole seconds): a token is refused when iat × 1000 ≤ tokensValidAfter
// (ms). Every token issued before the revocation is refused, and so is one issued later in the same
// second (iat cannot tell them apart); a token issued from the next second on is accepted. The server
// issues no token inside that second (AccessControl.issuable), so a login right after a revocation
// gets a token that works.

export type AccessRefusal = 'banned' | 'revoked';

/** What the JWT verifier asks (src/auth/jwt.ts). */
export interface AccessCheck {
  refusal(userId: string, iat: number | undefined): AccessRefusal | undefined;
}

export interface AccessState {
  readonly userId: string;
  readonly bannedAt: number | null;
  /** ms; 0: never revoked. */
  readonly tokensValidAfter: number;
  /** ms: orders the states of one user (a stale one is ignored). */
  readonly updatedAt: number;
}

/** The rule, for a user's state and a token's iat (seconds). */
export function refusalOf(state: Pick<AccessState, 'bannedAt' | 'tokensValidAfter'>, iat: number | undefined): AccessRefusal | undefined {
  if (state.bannedAt !== null) return 'banned';
  if (state.tokensValidAfter === 0) return undefined;
  // A token without iat (another issuer may leave it out) cannot show it came after the revocation.
  // A fractional iat (NumericDate allows it) counts as its whole second: 1000.999 is still second 1000.
  return iat === undefined || Math.floor(iat) * 1000 <= state.tokensValidAfter ? 'revoked' : undefined;
}

interface Entry {
  banned: boolean;
  tokensValidAfter: number;
  updatedAt: number;
}

/** `banned`: the user became banned; `revoked`: their revocation moved forward. */
export type AccessChange = { readonly userId: string; readonly banned: boolean; readonly revoked: boolean };

export class AccessList implements AccessCheck {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners: ((change: AccessChange) => void)[] = [];

  refusal(userId: string, iat: number | undefined): AccessRefusal | undefined {
    const entry = this.entries.get(userId);
    return entry === undefined ? undefined : refusalOf({ bannedAt: entry.banned ? 1 : null, tokensValidAfter: entry.tokensValidAfter }, iat);
  }

  /**
   * Takes a user's state (from the store, the bus or this instance's own write). A state older than
   * the one held is ignored: a refresh that read the store before an unban must not ban again. The
   * revocation never moves back. Listeners hear of what now refuses more than before.
   */
  apply(state: AccessState): void {
    const entry = this.entries.get(state.userId);
    if (entry && state.updatedAt < entry.updatedAt) return;
    const banned = state.bannedAt !== null;
    const tokensValidAfter = Math.max(entry?.tokensValidAfter ?? 0, state.tokensValidAfter);
    const change: AccessChange = { userId: state.userId, banned: banned && !entry?.banned, revoked: tokensValidAfter > (entry?.tokensValidAfter ?? 0) };
    this.entries.set(state.userId, { banned, tokensValidAfter, updatedAt: state.updatedAt });
    if (change.banned || change.revoked) for (const listener of this.listeners) listener(change);
  }

  /** Called with every change that refuses more tokens than before (the transport closes sockets). */
  onChange(listener: (change: AccessChange) => void): void {
    this.listeners.push(listener);
  }

  get size(): number {
    return this.entries.size;
  }
}
