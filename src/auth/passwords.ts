// Password hashing with scrypt (node:crypto). A stored hash carries its own parameters and salt:
//   scrypt$<log2 N>$<r>$<p>$<salt base64url>$<key base64url>
// so the cost can be raised later without breaking existing users. Passwords are NFC-normalized
// first (the same password typed on macOS and Windows can arrive composed or decomposed). Hashing
// runs on libuv's thread pool (off the event loop); the number of hashes running or waiting is
// bounded, since each one holds 128·N·r bytes (32 MiB at the defaults) and a login flood must not
// turn into unbounded memory.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ChatError } from '../errors.js';

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

/** ~140 ms and 32 MiB per hash on a 2-core 2020s server; stored with each hash, so raising it is safe. */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ logN: 15, r: 8, p: 1 });
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PREFIX = 'scrypt';

export interface PasswordHasherOptions {
  readonly params?: ScryptParams;
  /** Hashes computing at once (libuv's pool has 4 threads by default). */
  readonly maxConcurrent?: number;
  /** Hashes waiting for a slot; past it a request is answered `unavailable` (503, Retry-After). */
  readonly maxQueued?: number;
}

export class PasswordHasher {
  readonly params: ScryptParams;
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Verified against when the user does not exist, so an unknown user costs the same as a known one. */
  private dummyHash: Promise<string> | undefined;

  constructor(options: PasswordHasherOptions = {}) {
    this.params = options.params ?? DEFAULT_SCRYPT;
    this.maxConcurrent = options.maxConcurrent ?? 4;
    this.maxQueued = options.maxQueued ?? 64;
  }

  /** Computes the dummy hash now, so the first unknown-user login is not slower than the others. */
  prepare(): Promise<void> {
    return this.dummy().then(() => undefined);
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await this.derive(password, salt, this.params);
    const { logN, r, p } = this.params;
    return [PREFIX, logN, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
  }

  /**
   * True when `password` matches `stored`. With `stored` undefined (no such user) it does the same
   * work against a dummy hash and returns false: the caller cannot be timed into revealing which
   * usernames exist. A malformed stored hash is false, never a throw.
   */
  async verify(password: string, stored: string | undefined): Promise<boolean> {
    const target = stored ?? (await this.dummy());
    const parsed = parseHash(target);
    if (!parsed) {
      // Still spend the time, so a corrupt record is not distinguishable by timing either.
      await this.derive(password, randomBytes(SALT_BYTES), this.params);
      return false;
    }
    const key = await this.derive(password, parsed.salt, parsed.params, parsed.key.length);
    return timingSafeEqual(key, parsed.key) && stored !== undefined;
  }

  /** True when a stored hash uses weaker parameters than the current ones (rehash on next login). */
  needsRehash(stored: string): boolean {
    const parsed = parseHash(stored);
    return !parsed || parsed.params.logN < this.params.logN || parsed.params.r < this.params.r || parsed.params.p < this.params.p;
  }

  private dummy(): Promise<string> {
    if (!this.dummyHash) {
      const pending = this.hash(`no-such-user:${randomBytes(8).toString('hex')}`);
      pending.catch(() => (this.dummyHash = undefined)); // a refused slot (queue full) is retried next time
      this.dummyHash = pending;
    }
    return this.dummyHash;
  }

  private async derive(password: string, salt: Buffer, params: ScryptParams, keyBytes = KEY_BYTES): Promise<Buffer> {
    await this.acquire();
    try {
      const N = 2 ** params.logN;
      const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r };
      return await new Promise<Buffer>((resolve, reject) =>
        scrypt(password.normalize('NFC'), salt, keyBytes, options, (error, key) => (error ? reject(error) : resolve(key))),
      );
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxQueued) {
      return Promise.reject(new ChatError('unavailable', 'Too many logins in progress; retry shortly', { retryAfterSec: 1 }));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else this.running--;
  }
}

interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** Parses a stored hash; undefined if it is not one of ours or its parameters are out of sane bounds. */
function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const [logN, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![logN, r, p].every(Number.isInteger) || logN < 1 || logN > 22 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length < 16 || key.length > 128) return undefined;
  return { params: { logN, r, p }, salt, key };
}
