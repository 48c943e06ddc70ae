// Who may use their tokens: a small record per user the server API banned or revoked, kept apart from
// the message Store so that it can change alone (Store exposes it as `store.access`). The store is the
// truth; every instance keeps a copy in memory (src/auth/access-list.ts) because tokens are checked
// synchronously, inside uWS's upgrade callback.
//
// Times are server clocks in ms since the epoch (instances' clocks are assumed to agree closely, NTP).
// The last unban, or the ban that began the current one, decides `bannedAt`; the latest revocation is `tokensValidAfter`, whatever order
// concurrent writes land in. `updatedAt` orders a user's states for the instances' periodic refresh
// (`changedSince`); a user with no record was never banned nor revoked.

export interface AccessRecord {
  readonly userId: string;
  /** When the user was banned; null when not banned (never, or unbanned since). */
  readonly bannedAt: number | null;
  /**
   * The last revocation: tokens issued at or before it are refused (JWT `iat` has second granularity:
   * see AccessList.refusal). 0: never revoked. Only ever moves forward.
   */
  readonly tokensValidAfter: number;
  /** The latest of the last ban/unban and the latest revocation; `changedSince` compares it. */
  readonly updatedAt: number;
}

export interface AccessStore {
  /** Prepares (indexes); the message store must be started first (the Mongo one shares its client). */
  start(): Promise<void>;
  /** Bans the user: `bannedAt` becomes `at`, unless the user is banned already (then nothing changes). */
  ban(userId: string, at: number): Promise<AccessRecord>;
  /** Lifts a ban; a user with no record gets one with bannedAt null. */
  unban(userId: string, at: number): Promise<AccessRecord>;
  /** Refuses every token issued up to `at` (never moves `tokensValidAfter` back). */
  revoke(userId: string, at: number): Promise<AccessRecord>;
  get(userId: string): Promise<AccessRecord | undefined>;
  /** Records that still restrict something (banned, or revoked at least once): loaded at start. */
  restricted(): Promise<AccessRecord[]>;
  /** Records with updatedAt ≥ `since` (ms): the periodic refresh. */
  changedSince(since: number): Promise<AccessRecord[]>;
}
