// "Known device" proofs for login throttling (OWASP's device cookies). The per-username login bucket
// stops a botnet guessing one account's password, but anyone could empty it and keep the real user
// out. A device where the user logged in before holds a proof bound to that username, and its logins
// take from that proof's own bucket instead: an attacker without the password never gets a proof, so
// emptying the username's bucket no longer locks out the user's own devices.
//
// A proof is `<id>.<expiry, unix s>.<HMAC-SHA256 of username key, id and expiry>`, all base64url or
// digits; the HMAC key is derived from JWT_SECRET, so every instance accepts every instance's proofs
// and rotating the secret only sends devices back to the shared bucket. A proof grants no access.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PROOF_PATTERN = /^([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

export class KnownDevices {
  private readonly key: Buffer;

  /** `ttlSec`: how long a proof is good for (0: none is issued or accepted). */
  constructor(secret: string, readonly ttlSec: number, private readonly now: () => number = Date.now) {
    this.key = createHmac('sha256', secret).update('chat known-device proof v1').digest();
  }

  get enabled(): boolean {
    return this.ttlSec > 0;
  }

  /** A new proof that this device logged in as `userKey` (a username's case-folded key). */
  issue(userKey: string): string {
    const id = randomBytes(16).toString('base64url');
    const expiry = Math.floor(this.now() / 1000) + this.ttlSec;
    return `${id}.${expiry}.${this.mac(userKey, id, expiry)}`;
  }

  /** The proof's id when `presented` is an unexpired proof for `userKey`; undefined for anything else. */
  verify(userKey: string, presented: string | undefined): string | undefined {
    if (!this.enabled || presented === undefined || presented.length > 80) return undefined;
    const match = PROOF_PATTERN.exec(presented);
    if (!match) return undefined;
    const [, id, expiryText, mac] = match as unknown as [string, string, string, string];
    const expiry = Number(expiryText);
    if (expiry * 1000 <= this.now()) return undefined;
    const expected = Buffer.from(this.mac(userKey, id, expiry), 'base64url');
    const given = Buffer.from(mac, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected) ? id : undefined;
  }

  private mac(userKey: string, id: string, expiry: number): string {
    // NUL separators: no username, id or expiry can run into the next field.
    return createHmac('sha256', this.key).update(`${userKey}\0${id}\0${expiry}`).digest('base64url');
  }
}
