// Whose X-Forwarded-For is believed (TRUST_PROXY). `true` believes every peer: right only when nothing
// but the proxy reaches PORT. A probe showed why that is fragile: Prometheus scrapes PORT directly, so
// anyone who can reach it too sent a new X-Forwarded-For per request and escaped every per-address
// limit (the metrics-key lockout, logins, connections). A list of the proxies' addresses or CIDR
// ranges believes the header only from them; from any other peer it is ignored.
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
  // An IPv4 peer on a dual-stack socket reads as ::ffff:a.b.c.d.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(peer);
  const address = mapped ? mapped[1]! : peer;
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
