// Accounts, kept apart from the message Store so either can change alone. A username follows the
// protocol's user-id rule and is unique ignoring case: "Alice" cannot register beside "alice" (no
// look-alike impersonation), and a login finds the account whatever the case typed. The account's
// `username` as registered is its user id (the JWT `sub`).

export interface UserRecord {
  /** As registered; the user id everywhere else. */
  readonly username: string;
  /** `scrypt$…` (src/auth/passwords.ts): parameters and salt travel with the hash. */
  readonly passwordHash: string;
  /** ms since the epoch. */
  readonly createdAt: number;
}

export type CreateUserResult = { readonly kind: 'created'; readonly user: UserRecord } | { readonly kind: 'taken' };

export interface UserStore {
  readonly kind: 'memory' | 'mongo';
  /** Connects and prepares (the unique index); rejects if the store cannot be reached. */
  start(): Promise<void>;
  /** Creates the account unless the username (ignoring case) exists; never overwrites. */
  create(username: string, passwordHash: string): Promise<CreateUserResult>;
  /** The account whose username equals `username` ignoring case. */
  find(username: string): Promise<UserRecord | undefined>;
  close(): Promise<void>;
}

/** The uniqueness key of a username. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}
