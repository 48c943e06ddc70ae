// Keeping the credential alive. It is renewed ahead of its expiry and the client moves to a new socket
// (the server closes the old one at expiry with 4001); after a 4001 it is renewed before reconnecting;
// and when a socket is refused before it opens, the server is asked whether the credential is the
// reason. A credential refused for good ends the client (`failed`).
import type { ReconnectingSocket } from './reconnecting-socket.js';
import type { Session } from './session.js';

/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

export class CredentialRenewal {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly session: Session,
    private readonly socket: ReconnectingSocket,
    private readonly refreshBeforeExpiryMs: number,
    private readonly failed: (message: string) => void,
  ) {}

  /** After `ready`: learns the expiry (cookie mode asks GET /api/me) and schedules the renewal. */
  async learnExpiry(): Promise<void> {
    if (this.session.expiresAt === undefined && this.session.mode === 'cookie') await this.session.check();
    if (!this.socket.closed) this.schedule();
  }

  /** The server closed with 4001 (the token expired while connected): renew, then reconnect. */
  async renewAndReconnect(): Promise<void> {
    this.socket.waitToReconnect();
    const renewed = await this.session.refresh();
    if (this.socket.closed) return;
    if (renewed === 'unauthorized') return this.failed('Session expired; log in again');
    if (renewed === 'ok') return void this.socket.open();
    this.socket.scheduleReconnect();
  }

  /** A socket that never opened: if the server says the credential is bad, renew it or give up. */
  async diagnoseRefusal(): Promise<void> {
    const generation = this.socket.generation;
    if ((await this.session.check()) !== 'unauthorized' || this.socket.closed) return;
    const renewed = await this.session.refresh();
    if (this.socket.closed) return;
    if (renewed === 'unauthorized') return this.failed('Credentials refused; log in again');
    if (renewed === 'ok') this.socket.retryRefused(generation);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Renews the credential ahead of its expiry, then moves to a new socket (the old one dies at expiry). */
  private schedule(): void {
    clearTimeout(this.timer);
    const expiresAt = this.session.expiresAt;
    if (expiresAt === undefined) return;
    const remaining = expiresAt - Date.now();
    if (remaining <= 0) return; // the server closes with 4001 and renewAndReconnect takes over
    const margin = Math.min(this.refreshBeforeExpiryMs, remaining / 2);
    const delay = Math.min(MAX_TIMER_MS, remaining - margin);
    this.timer = setTimeout(async () => {
      if (this.socket.closed) return;
      if (expiresAt - Date.now() > margin + 1000) return this.schedule(); // a capped timer fired early
      const renewed = await this.session.refresh();
      if (this.socket.closed) return;
      if (renewed === 'unauthorized') return this.failed('Session expired; log in again');
      if (renewed === 'ok') return this.socket.reconnect();
      // Network trouble: try again shortly, while the token still lives.
      this.timer = setTimeout(() => this.schedule(), Math.min(5000, Math.max(100, (expiresAt - Date.now()) / 4)));
    }, delay);
  }
}
