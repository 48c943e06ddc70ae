// The session cookie that carries the JWT for browsers: HttpOnly (no script can read it), SameSite=Lax
// (not sent on cross-site subrequests), Path=/, Secure in production, Domain only when COOKIE_DOMAIN
// is set (otherwise host-only). Clearing repeats the same attributes, or the browser keeps the cookie.
import type { Config } from '../config.js';

export function sessionCookie(config: Config, token: string, maxAgeSec: number): string {
  return [`${config.cookie.name}=${token}`, `Max-Age=${maxAgeSec}`, ...attributes(config)].join('; ');
}

export function clearedSessionCookie(config: Config): string {
  return [`${config.cookie.name}=`, 'Max-Age=0', 'Expires=Thu, 01 Jan 1970 00:00:00 GMT', ...attributes(config)].join('; ');
}

function attributes(config: Config): string[] {
  const parts = ['Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (config.isProduction) parts.push('Secure');
  if (config.cookie.domain) parts.push(`Domain=${config.cookie.domain}`);
  return parts;
}
