// messageIds: ULIDs (26 characters of Crockford base32: 48-bit ms time, 80 random bits). They fit the
// protocol's rule and sort by creation time. getRandomValues works in browsers (also on plain http,
// where randomUUID does not) and in Node.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newMessageId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const random = new Uint8Array(16);
  globalThis.crypto.getRandomValues(random);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += ALPHABET[random[i]! % 32];
  return time + tail;
}
