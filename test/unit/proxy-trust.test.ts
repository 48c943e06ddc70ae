// The client address per-address limits key on (TRUST_PROXY): which X-Forwarded-For hop is believed,
// in what form. (Through the real server: test/integration/accounts.test.ts, "TRUST_PROXY as a list".)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalAddress, clientAddress, parseProxyTrust } from '../../src/transport/proxy-trust.js';

const nginxAndAlb = parseProxyTrust('127.0.0.1,10.0.0.0/8');

describe('clientAddress', () => {
  it('without trust, or from a peer not listed, is the peer whatever the header says', () => {
    assert.equal(clientAddress('127.0.0.1', ['203.0.113.9'], false), '127.0.0.1');
    assert.equal(clientAddress('198.51.100.7', ['203.0.113.9'], nginxAndAlb), '198.51.100.7');
  });

  it('walks past every listed proxy from the right: behind a load balancer and NGINX the client is left of the balancer', () => {
    assert.equal(clientAddress('127.0.0.1', ['192.0.2.10, 10.1.2.3'], nginxAndAlb), '192.0.2.10');
    assert.equal(clientAddress('127.0.0.1', ['6.6.6.6, 192.0.2.10, 10.1.2.3'], nginxAndAlb), '192.0.2.10', 'what the client wrote left of it is not believed');
    assert.equal(clientAddress('127.0.0.1', ['10.9.9.9, 10.1.2.3'], nginxAndAlb), '10.9.9.9', 'all proxies: the leftmost');
    // `true` believes the peer's last hop only, as before.
    assert.equal(clientAddress('127.0.0.1', ['192.0.2.10, 10.1.2.3'], true), '10.1.2.3');
  });

  it('reads every header line in order: a proxy that adds its own line decides, not the client\'s first line', () => {
    assert.equal(clientAddress('127.0.0.1', ['5.5.5.5', '203.0.113.7'], parseProxyTrust('127.0.0.1')), '203.0.113.7');
  });

  it('puts addresses in one form, keys IPv6 by its /64, and stops at a hop that is not an address', () => {
    const trust = parseProxyTrust('127.0.0.1');
    const key = (hop: string) => clientAddress('127.0.0.1', [hop], trust);
    assert.equal(key('::ffff:1.2.3.9'), '1.2.3.9');
    assert.equal(key('2001:DB8:0::5'), key('2001:db8::5'));
    assert.equal(key('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(key('2001:db8::1'), key('2001:db8:0:0:ffff::2'), 'one /64, one bucket');
    assert.notEqual(key('2001:db8:0:1::1'), key('2001:db8::1'));
    assert.equal(key('::1.2.3.4'), '0:0:0:0::/64');
    for (const junk of ['', ' ', 'foo', '1.2.3.10:1234', '01.2.3.11', 'x'.repeat(7000)]) assert.equal(key(junk), '127.0.0.1', JSON.stringify(junk.slice(0, 20)));
    assert.equal(clientAddress('127.0.0.1', ['192.0.2.1, junk, 10.1.2.3'], nginxAndAlb), '10.1.2.3', 'the walk ends at the hop that vouched for the junk');
  });

  it('canonicalAddress refuses what is not an address', () => {
    assert.equal(canonicalAddress('1.2.3.4'), '1.2.3.4');
    assert.equal(canonicalAddress('FE80::1'), 'fe80::1');
    assert.equal(canonicalAddress('1.2.3.4.5'), undefined);
  });
});
