// Whose X-Forwarded-For is believed (TRUST_PROXY), and the client address every per-address limit keys
// on. `true` believes every peer: right only when nothing but the proxy reaches PORT. A probe showed why
// that is fragile: Prometheus scrapes PORT directly, so anyone who can reach it too sent a new
// X-Forwarded-For per request and escaped every per-address limit (the metrics-key lockout, logins,
// connections). A list of the proxies' addresses or CIDR ranges believes the header only from them,
// and walks it from the right past every listed proxy, as NGINX's `real_ip_recursive` does: behind a
// load balancer and NGINX the client is the hop left of the balancer's, not the balancer.
import { BlockList, isIP } from 'node:net';

export type ProxyTrust = boolean | readonly string[];

/** Parses TRUST_PROXY: `true`/`false` (also 1/0, yes/no), or comma-separated addresses and CIDR ranges. */
export function parseProxyTrust(input: string): ProxyTrust {
  const flag = /^(?:true|1|yes)$/i.test(input) ? true : /^(?:false|0|no)$/i.test(input) ? false : undefined;
  if (flag !== undefined) return flag;
  const entries = input.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new Error('must be true, false, or comma-separated proxy addresses or CIDR ranges (e.g. 127.0.0.1,10.0.0.0/8)');
    }
  }
  return entries;
}

/** Compiled once per list (config is frozen data; a BlockList is not). */
const compiled = new WeakMap<readonly string[], BlockList>();

/** Whether `peer` (the socket's address, as uWS writes it) may tell the client's address. */
export function trustsPeer(trust: ProxyTrust, peer: string): boolean {
  if (typeof trust === 'boolean') return trust;
  let list = compiled.get(trust);
  if (!list) {
    list = new BlockList();
    for (const entry of trust) {
      const [address, prefix] = entry.split('/') as [string, string | undefined];
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) list.addAddress(address, type);
      else list.addSubnet(address, Number(prefix), type);
    }
    compiled.set(trust, list);
  }
  // canonicalAddress unmaps an IPv4 peer on a dual-stack socket (::ffff:a.b.c.d).
  const address = canonicalAddress(peer);
  return address !== undefined && list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The address per-address limits key on: the socket's peer, or, when the peer is a trusted proxy, the
 * X-Forwarded-For hop it vouches for (every line of the header, in order: a proxy that adds its own
 * line, as HAProxy does, must not leave the client's first line in charge). Addresses are put in one
 * form (so spellings of one address share a bucket) and IPv6 ones cut to their /64 (one subscriber's
 * network: otherwise a host could take a new address, and a fresh bucket, per request). A hop that is
 * not an address ends the walk at the last one believed.
 */
export function clientAddress(peerText: string, forwardedFor: readonly string[], trust: ProxyTrust): string {
  const peer = canonicalAddress(peerText) ?? peerText;
  if (trust === false || forwardedFor.length === 0 || !trustsPeer(trust, peer)) return bucketKey(peer);
  const hops = forwardedFor.flatMap((line) => line.split(','));
  let believed = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalAddress(hops[i]!.trim());
    if (hop === undefined) break;
    believed = hop;
    if (trust === true || !trustsPeer(trust, hop)) break;
  }
  return bucketKey(believed);
}

/** One form per address: IPv4 dotted, IPv6 compressed lower case, IPv4-mapped IPv6 as IPv4; undefined if not an address. */
export function canonicalAddress(text: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  const candidate = mapped ? mapped[1]! : text;
  const family = isIP(candidate);
  if (family === 4) return candidate;
  if (family === 6) return new URL(`http://[${candidate}]`).hostname.slice(1, -1);
  return undefined;
}

/** IPv6 addresses by their /64; anything else as it is. */
function bucketKey(address: string): string {
  if (isIP(address) !== 6) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a (canonical, compressed) IPv6 address, as hex without leading zeros. */
function expandIpv6(address: string): string[] {
  const [head, tail] = address.includes('::') ? address.split('::') as [string, string] : [address, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::1.2.3.4) is two groups.
  const last = right.length > 0 ? right[right.length - 1]! : left[left.length - 1] ?? '';
  if (last.includes('.')) {
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    const groups = [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    if (right.length > 0) right.splice(-1, 1, ...groups);
    else left.splice(-1, 1, ...groups);
  }
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((group) => group.replace(/^0+(?=.)/, ''));
}
