// Where a request's token comes from. Rule (docs/protocol.md, "Authentication"): an Authorization
// header, when present, is the only credential considered — a bad Bearer token is refused even if a
// valid cookie is also sent, so a cookie never silently overrides what a client explicitly presented.

export type TokenSource = { readonly token: string; readonly from: 'bearer' | 'cookie' } | { readonly error: 'no_token' | 'bad_header' };

export function extractToken(authorization: string, cookieHeader: string, cookieName: string): TokenSource {
  if (authorization !== '') {
    const match = /^Bearer[ ]+([A-Za-z0-9_.~+/=-]+)[ ]*$/i.exec(authorization);
    return match ? { token: match[1]!, from: 'bearer' } : { error: 'bad_header' };
  }
  const token = readCookie(cookieHeader, cookieName);
  return token ? { token, from: 'cookie' } : { error: 'no_token' };
}

export function readCookie(header: string, name: string): string | undefined {
  if (header === '') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}
