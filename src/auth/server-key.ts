// The server API's key (SERVER_API_KEY), compared in constant time whatever the lengths: both the
// configured key and the presented one go through HMAC-SHA256 under a key drawn at start, and the two
// 32-byte digests are compared with crypto.timingSafeEqual. So neither the time taken nor an early
// exit on a length mismatch tells a caller how much of the key it got right, and the random HMAC key
// keeps a digest from being precomputed. Neither key is ever logged.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type DigestEqual = (a: Buffer, b: Buffer) => boolean;

export class ServerKey {
  private readonly hmacKey = randomBytes(32);
  private readonly expected: Buffer;

  /** `equal`: the comparison (tests observe it); node:crypto's timingSafeEqual otherwise. */
  constructor(key: string, private readonly equal: DigestEqual = timingSafeEqual) {
    this.expected = this.digest(key);
  }

  /** True when `presented` is the key. An empty presented key never matches. */
  matches(presented: string): boolean {
    // Always the same work, also for an empty key: nothing short-circuits before the comparison.
    const same = this.equal(this.digest(presented), this.expected);
    return same && presented.length > 0;
  }

  private digest(value: string): Buffer {
    return createHmac('sha256', this.hmacKey).update(value, 'utf8').digest();
  }
}

/** The key from `Authorization: Bearer <key>`; '' when the header is absent or not a Bearer one. */
export function presentedServerKey(authorization: string): string {
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
  return match ? match[1]! : '';
}
