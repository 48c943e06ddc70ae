// Message bodies and ids for load generators.
//
// Bodies are drawn from a precomputed pool so the generator spends no CPU
// building strings per message, and use only [A-Za-z0-9 ] so they can be put
// into a JSON frame by plain concatenation (no escaping needed).

import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ';

function randomText(len: number): string {
  const bytes = randomBytes(len);
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHABET[bytes[i]! % ALPHABET.length];
  return s;
}

/** `size` bodies with lengths uniform in [min, max] bytes (ASCII, so bytes = chars). */
export function makeBodyPool(min = 50, max = 500, size = 256): string[] {
  const pool: string[] = [];
  for (let i = 0; i < size; i++) pool.push(randomText(min + Math.floor(Math.random() * (max - min + 1))));
  return pool;
}

/** Random 8-hex-digit tag identifying one benchmark run (ids, user names). */
export function runTag(): string {
  return randomBytes(4).toString('hex');
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/**
 * A message id that is a syntactically valid UUID v4 (in case the server
 * validates the format) yet encodes run, pair and sequence number, so the
 * generator can check exactly-once delivery with a flag array per pair
 * instead of a Set of strings:  RRRRRRRR-PPPP-4xxx-8xxx-SSSSSSSSSSSS
 */
export function encodeMessageId(tag: string, pair: number, seq: number, salt: string): string {
  return `${tag}-${hex(pair & 0xffff, 4)}-4${salt.slice(0, 3)}-8${salt.slice(3, 6)}-${hex(seq, 12)}`;
}

/** Inverse of encodeMessageId; undefined when the id is not from this run. */
export function decodeMessageId(id: string, tag: string): { pair: number; seq: number } | undefined {
  if (id.length !== 36 || !id.startsWith(tag)) return undefined;
  const pair = parseInt(id.slice(9, 13), 16);
  const seq = parseInt(id.slice(24), 16);
  return Number.isNaN(pair) || Number.isNaN(seq) ? undefined : { pair, seq };
}

/** Random 6 hex digits for the otherwise constant middle of encodeMessageId. */
export function idSalt(): string {
  return randomBytes(3).toString('hex');
}
