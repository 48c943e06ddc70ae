// HEAD, as health checkers send it, over raw TCP against the real server: /healthz and /readyz answer
// 200 with no body, so the connection stays usable (a body would be read as the next response); so do
// the API's GET routes, with the status and length their GET would have.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { rawRequest, statuses } from './raw-http.js';

/** Ends once `count` responses have arrived and the last one's body (if any) with them. */
const answered = (count: number, lastBody: string) => (response: string) => statuses(response).length === count && response.endsWith(lastBody);

describe('health checks', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  for (const path of ['/healthz', '/readyz']) {
    it(`HEAD ${path} answers 200 with no body; a GET behind it on the same connection is answered normally`, async () => {
      const body = path === '/healthz' ? '{"status":"ok"}' : '{"status":"ready"}';
      const request = `HEAD ${path} HTTP/1.1\r\nhost: localhost\r\n\r\nGET ${path} HTTP/1.1\r\nhost: localhost\r\n\r\n`;
      const result = await rawRequest(t.server.port, request, { until: answered(2, body) });
      assert.deepEqual(statuses(result.response), [200, 200], result.response);
      const [headAnswer, getAnswer] = result.response.split(/(?=HTTP\/1\.1 )/);
      // No body after the HEAD answer's header block: the next bytes are the GET's status line.
      assert.ok(headAnswer!.endsWith('\r\n\r\n'), `HEAD answer carried a body: ${JSON.stringify(headAnswer)}`);
      assert.match(headAnswer!, /content-type: application\/json/i);
      assert.ok(getAnswer!.endsWith(body));
    });
  }

  it('HEAD on an unknown route answers 404 without a body (a keep-alive client is not desynchronised)', async () => {
    const request = 'HEAD /nowhere HTTP/1.1\r\nhost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n';
    const result = await rawRequest(t.server.port, request, { until: answered(2, '{"status":"ok"}') });
    assert.deepEqual(statuses(result.response), [404, 200], result.response);
    assert.ok(result.response.split(/(?=HTTP\/1\.1 )/)[0]!.endsWith('\r\n\r\n'));
  });

  it("HEAD on the API's GET routes answers as GET would (status, headers, the body's length), with no body", async () => {
    const token = await t.token('head-user');
    const auth = `authorization: Bearer ${token}\r\n`;
    for (const path of ['/api/me', '/api/conversations', '/api/users/head-user']) {
      const get = await rawRequest(t.server.port, `GET ${path} HTTP/1.1\r\nhost: localhost\r\n${auth}\r\n`, { until: (r) => /\r\n\r\n[\s\S]*\}$/.test(r) });
      const getBody = get.response.slice(get.response.indexOf('\r\n\r\n') + 4);
      const request = `HEAD ${path} HTTP/1.1\r\nhost: localhost\r\n${auth}\r\nGET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n`;
      const result = await rawRequest(t.server.port, request, { until: answered(2, '{"status":"ok"}') });
      const [status] = statuses(get.response);
      assert.deepEqual(statuses(result.response), [status, 200], result.response);
      const headAnswer = result.response.split(/(?=HTTP\/1\.1 )/)[0]!;
      assert.ok(headAnswer.endsWith('\r\n\r\n'), `HEAD ${path} carried a body: ${JSON.stringify(headAnswer)}`);
      assert.match(headAnswer, new RegExp(`content-length: ${Buffer.byteLength(getBody)}\\r\\n`, 'i'), `${path}: ${headAnswer}`);
    }
    // Without a token: the GET's 401, still without a body.
    const refused = await rawRequest(t.server.port, 'HEAD /api/conversations HTTP/1.1\r\nhost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n', { until: answered(2, '{"status":"ok"}') });
    assert.deepEqual(statuses(refused.response), [401, 200], refused.response);
    assert.ok(refused.response.split(/(?=HTTP\/1\.1 )/)[0]!.endsWith('\r\n\r\n'));
  });
});

describe('HEAD /readyz while draining', () => {
  it('answers 503 from the signal on, with no body', async () => {
    const t = await startTestServer({ env: { SHUTDOWN_DRAIN_DELAY_MS: '1500' } });
    const closing = t.close();
    try {
      const request = 'HEAD /readyz HTTP/1.1\r\nhost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n';
      const result = await rawRequest(t.server.port, request, { until: answered(2, '{"status":"ok"}') });
      assert.deepEqual(statuses(result.response), [503, 200]);
    } finally {
      await closing;
    }
  });
});
