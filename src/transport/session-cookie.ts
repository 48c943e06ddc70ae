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

/**
 * The known-device proof (src/auth/known-device.ts), `<AUTH_COOKIE_NAME>_device`: sent only to the
 * auth routes, and kept by logout (it names the device, not a session).
 */
export function knownDeviceCookie(config: Config, proof: string, maxAgeSec: number): string {
  return [`${knownDeviceCookieName(config)}=${proof}`, `Max-Age=${maxAgeSec}`, ...attributes(config, '/api/auth')].join('; ');
}

export function knownDeviceCookieName(config: Config): string {
  return `${config.cookie.name}_device`;
}

function attributes(config: Config, path = '/'): string[] {
  const parts = [`Path=${path}`, 'HttpOnly', 'SameSite=Lax'];
  if (config.isProduction) parts.push('Secure');
  if (config.cookie.domain) parts.push(`Domain=${config.cookie.domain}`);
  return parts;
}
