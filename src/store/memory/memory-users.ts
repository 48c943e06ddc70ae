// Accounts in this process's memory (DB_URI=mem): lost on restart, like the messages beside them.
import { usernameKey, type CreateUserResult, type UserRecord, type UserStore } from '../users.js';

export class MemoryUserStore implements UserStore {
  readonly kind = 'memory' as const;
  private readonly users = new Map<string, UserRecord>();

  async start(): Promise<void> {}

  async create(username: string, passwordHash: string): Promise<CreateUserResult> {
    const key = usernameKey(username);
    if (this.users.has(key)) return { kind: 'taken' };
    const user: UserRecord = Object.freeze({ username, passwordHash, createdAt: Date.now() });
    this.users.set(key, user);
    return { kind: 'created', user };
  }

  async find(username: string): Promise<UserRecord | undefined> {
    return this.users.get(usernameKey(username));
  }

  /** Nothing to release: the accounts stay, so a server restarted in the same process keeps them. */
  async close(): Promise<void> {}
}
