// HTTP/1.0, as some health checkers still send it (HAProxy's `option httpchk` and Nagios' check_http
// by default), over raw TCP against the real server. The uWS build we run never parses an HTTP/1.0
// request line: no handler runs and no answer comes (`curl --http1.0` waits 8-12 s for uWS's HTTP
// timeout). HEALTH_PORT serves /healthz and /readyz to any HTTP version, from Node's own HTTP parser.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { rawRequest, statuses } from './raw-http.js';

describe('HTTP/1.0', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ env: { HEALTH_PORT: '0' } });
  });
  after(() => t.close());

  it('the main port: uWS never parses an HTTP/1.0 request line (no handler runs; past 4 KiB it drops the connection)', async () => {
    // Pinned so that a uWS build which does parse HTTP/1.0 shows up here (then answer it on PORT too).
    // A 5 KiB header: uWS buffers at most 4 KiB of a request it cannot parse yet, so it gives up at once
    // instead of waiting for its ~10 s HTTP timeout (what `curl --http1.0` sees: no answer for 8-12 s).
    const request = (version: string) => `GET /healthz HTTP/${version}\r\nhost: localhost\r\nx-pad: ${'a'.repeat(5000)}\r\n\r\n`;
    const old = await rawRequest(t.server.port, request('1.0'), { waitMs: 3000 });
    assert.deepEqual(statuses(old.response), []);
    assert.ok(old.closedByServer && old.elapsedMs < 1000, `closed after ${old.elapsedMs} ms`);
    // The same request as HTTP/1.1 is answered.
    const current = await rawRequest(t.server.port, request('1.1'), { until: (r) => r.endsWith('{"status":"ok"}') });
    assert.deepEqual(statuses(current.response), [200]);
  });

  it('HEALTH_PORT answers HTTP/1.0 GET and HEAD of /healthz and /readyz, then closes; HTTP/1.1 too', async () => {
    const port = t.server.healthPort!;
    assert.ok(port > 0 && port !== t.server.port);
    const started = Date.now();
    const get = await rawRequest(port, 'GET /healthz HTTP/1.0\r\n\r\n', { waitMs: 3000 });
    assert.deepEqual(statuses(get.response), [200]);
    assert.ok(get.response.endsWith('{"status":"ok"}'), get.response);
    assert.ok(get.closedByServer, 'HTTP/1.0: closed after the answer');
    const ready = await rawRequest(port, 'GET /readyz HTTP/1.0\r\nhost: localhost\r\n\r\n', { waitMs: 3000 });
    assert.deepEqual(statuses(ready.response), [200]);
    assert.ok(ready.response.endsWith('{"status":"ready"}'));
    const headOnly = await rawRequest(port, 'HEAD /healthz HTTP/1.0\r\n\r\n', { waitMs: 3000 });
    assert.deepEqual(statuses(headOnly.response), [200]);
    assert.ok(headOnly.response.endsWith('\r\n\r\n') && headOnly.closedByServer);
    assert.equal((await rawRequest(port, 'GET /api/me HTTP/1.0\r\n\r\n', { waitMs: 3000 })).status, 404, 'health only');
    assert.equal((await rawRequest(port, 'POST /healthz HTTP/1.0\r\ncontent-length: 0\r\n\r\n', { waitMs: 3000 })).status, 405);
    const elapsed = Date.now() - started;
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    console.log(`http-1.0: HTTP/1.0 /healthz, /readyz and HEAD answered on HEALTH_PORT in ${elapsed} ms (5 requests); on PORT uWS never parses HTTP/1.0`);
  });
});

describe('HEALTH_PORT while draining', () => {
  it('/readyz answers 503 from the signal on', async () => {
    const t = await startTestServer({ env: { HEALTH_PORT: '0', SHUTDOWN_DRAIN_DELAY_MS: '1500' } });
    const closing = t.close();
    try {
      const old = await rawRequest(t.server.healthPort!, 'GET /readyz HTTP/1.0\r\n\r\n', { waitMs: 3000 });
      assert.equal(old.status, 503);
      assert.match(old.response, /shutting_down/);
    } finally {
      await closing;
    }
  });
});
