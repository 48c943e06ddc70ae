// Bans and token revocations (the server API) and how every instance learns of them within about a
// second. The store is the truth: a write goes there first, then into this instance's AccessList
// (checked on every token use), then onto the bus for the other instances. A bus event can be lost
// (NATS core drops what arrives while a link is down), so every instance also reads the records
// changed lately every ACCESS_REFRESH_MS: a lost event still takes effect within one refresh.
import { refusalOf, type AccessList, type AccessState } from '../auth/access-list.js';
import type { BusEvent, BusHandler, LiveBus } from '../bus/live-bus.js';
import { ChatError } from '../errors.js';
import { errorSummary, type Logger } from '../log.js';
import type { AccessRecord, AccessStore } from '../store/access-store.js';

/**
 * How far back each refresh reads, past the previous one's start: instances' clocks differ a little,
 * and a write stamped at T may land in the store a little after T.
 */
export const REFRESH_OVERLAP_MS = 5000;

export interface AccessControlDeps {
  readonly store: AccessStore;
  readonly list: AccessList;
  readonly bus: LiveBus;
  readonly log: Logger;
  /** Refresh period in ms; 0: never (bus events and restarts only). */
  readonly refreshMs: number;
}

export class AccessControl {
  private timer: NodeJS.Timeout | undefined;
  /** Start of the last successful read (ms, this clock); undefined until the full load succeeded. */
  private readFrom: number | undefined;
  private failing = false;
  private closed = false;

  constructor(private readonly deps: AccessControlDeps) {}

  /** Loads every restriction, then refreshes every refreshMs. Rejects if the first load fails. */
  async start(): Promise<void> {
    await this.deps.store.start();
    await this.refresh(true);
    if (this.deps.refreshMs > 0) this.schedule();
  }

  ban(userId: string): Promise<AccessRecord> {
    return this.write(userId, (at) => this.deps.store.ban(userId, at));
  }

  unban(userId: string): Promise<AccessRecord> {
    return this.write(userId, (at) => this.deps.store.unban(userId, at));
  }

  /** Every token of the user issued up to now is refused from now on ("log out everywhere"). */
  revoke(userId: string): Promise<AccessRecord> {
    return this.write(userId, (at) => this.deps.store.revoke(userId, at));
  }

  /**
   * Before the server signs a token for `userId` (login, register, refresh): read from the store, not
   * the view, so a ban or revocation written a moment ago on another instance counts. Throws `banned`
   * for a banned user, and `unauthorized` when `presented` (refresh: the token being exchanged) is
   * revoked. Otherwise waits until a token signed now lies past the user's revocation second (at most
   * a second, only right after a revocation), so that the token about to be signed is accepted.
   */
  async issuable(userId: string, presented?: { readonly iat: number | undefined }): Promise<void> {
    let record: AccessRecord | undefined;
    try {
      record = await this.deps.store.get(userId);
    } catch (error) {
      throw new ChatError('unavailable', 'Account store unavailable; retry shortly', { retryAfterSec: 1, cause: error });
    }
    if (!record) return;
    this.deps.list.apply(record);
    const refusal = refusalOf(record, presented ? presented.iat : Number.MAX_SAFE_INTEGER);
    if (refusal === 'banned') throw new ChatError('banned');
    if (refusal === 'revoked') throw new ChatError('unauthorized', 'Token revoked; log in again');
    if (record.tokensValidAfter === 0) return;
    // Checked again after each wait: a timer may fire a fraction of a millisecond before Date.now()
    // reaches its time, and a token signed then would carry the revocation's second (a CI run saw it).
    const validFrom = (Math.floor(record.tokensValidAfter / 1000) + 1) * 1000;
    for (let wait = validFrom - Date.now(); wait > 0; wait = validFrom - Date.now()) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /** An access event from another instance (see tapAccessEvents). */
  fromBus(event: BusEvent & { kind: 'access' }): void {
    const { userId, bannedAt, tokensValidAfter, updatedAt } = event;
    this.deps.list.apply({ userId, bannedAt, tokensValidAfter, updatedAt });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async write(userId: string, write: (at: number) => Promise<AccessRecord>): Promise<AccessRecord> {
    let record: AccessRecord;
    try {
      record = await write(Date.now());
    } catch (error) {
      this.deps.log.warn({ err: errorSummary(error), userId }, 'access store write failed');
      throw new ChatError('unavailable', 'Store unavailable; nothing was changed, retry', { retryAfterSec: 1, cause: error });
    }
    this.deps.list.apply(record);
    this.deps.bus.publishAll({ kind: 'access', ...stateOf(record) });
    return record;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.refresh(false).finally(() => this.schedule()), this.deps.refreshMs);
    this.timer.unref();
  }

  private async refresh(first: boolean): Promise<void> {
    const startedAt = Date.now();
    try {
      const records = this.readFrom === undefined ? await this.deps.store.restricted() : await this.deps.store.changedSince(this.readFrom - REFRESH_OVERLAP_MS);
      for (const record of records) this.deps.list.apply(record);
      this.readFrom = startedAt;
      if (this.failing) this.deps.log.info('access refresh works again');
      this.failing = false;
    } catch (error) {
      if (first) throw error;
      // Logged once per outage: bans and revocations from other instances wait for the store (the bus still carries them).
      if (!this.failing) this.deps.log.warn({ err: errorSummary(error) }, 'access refresh failed; retrying every ACCESS_REFRESH_MS');
      this.failing = true;
    }
  }
}

/** The bus as the chat domain sees it: access events are taken off to `onAccess`, everything else passes. */
export class AccessEventTap implements LiveBus {
  constructor(
    private readonly inner: LiveBus,
    private readonly onAccess: (event: BusEvent & { kind: 'access' }) => void,
  ) {}

  get kind(): LiveBus['kind'] {
    return this.inner.kind;
  }

  start(onEvent: BusHandler): Promise<void> {
    return this.inner.start((event, forUser) => (event.kind === 'access' ? this.onAccess(event) : onEvent(event, forUser)));
  }

  watch(userId: string): Promise<void> {
    return this.inner.watch(userId);
  }

  unwatch(userId: string): void {
    this.inner.unwatch(userId);
  }

  publish(userId: string, event: BusEvent): void {
    this.inner.publish(userId, event);
  }

  publishAll(event: BusEvent): void {
    this.inner.publishAll(event);
  }

  onHealth(listener: (up: boolean) => void): void {
    this.inner.onHealth(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function stateOf(record: AccessRecord): AccessState {
  return { userId: record.userId, bannedAt: record.bannedAt, tokensValidAfter: record.tokensValidAfter, updatedAt: record.updatedAt };
}
