// The webhook signature, Stripe/GitHub style: `X-Chat-Signature: t=<unix seconds>,v1=<hex>` where the
// hex is HMAC-SHA256 over `<t>.<raw body>` with PUSH_WEBHOOK_SECRET. The timestamp in the signed
// text lets a receiver refuse replays of an old POST; the raw body (not a re-serialisation) is what
// is signed, so a receiver must verify the bytes it got before parsing them.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Chat-Signature';

export function signatureOf(secret: string, timestampSec: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex');
}

/** The header value for `body` signed at `timestampSec`. */
export function signatureHeader(secret: string, body: string, timestampSec: number): string {
  return `t=${timestampSec},v1=${signatureOf(secret, timestampSec, body)}`;
}

/**
 * What a receiver runs (docs/protocol.md has the same in a few lines): true when `header` carries a
 * v1 signature of `body` by `secret`, made within `toleranceSec` of `nowSec`. Constant-time compare.
 */
export function verifySignature(header: string | undefined, body: string, secret: string, options: { nowSec?: number; toleranceSec?: number } = {}): boolean {
  if (!header) return false;
  const parts = new Map<string, string[]>();
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    const key = part.slice(0, at).trim();
    parts.set(key, [...(parts.get(key) ?? []), part.slice(at + 1).trim()]);
  }
  const t = Number(parts.get('t')?.[0]);
  if (!Number.isInteger(t)) return false;
  const nowSec = options.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(nowSec - t) > (options.toleranceSec ?? 300)) return false;
  const expected = Buffer.from(signatureOf(secret, t, body), 'hex');
  return (parts.get('v1') ?? []).some((candidate) => {
    const given = Buffer.from(candidate, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
