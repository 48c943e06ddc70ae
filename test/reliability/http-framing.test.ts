// Request framing on the real server, over raw TCP: a request whose length is ambiguous (two different
// Content-Length headers, a Transfer-Encoding other than `chunked`, several Transfer-Encoding headers)
// is refused with 400 and the connection closed, on every route, so bytes smuggled behind it are never
// read as a second request. uWS uses the first Content-Length and decodes any Transfer-Encoding as
// chunked; a proxy in front may read the same bytes differently. NGINX refuses these too, but the
// server must not depend on it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { rawRequest, statuses } from './raw-http.js';

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nhost: localhost\r\n\r\n';
const BODY = '{}';
const chunked = (body: string) => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

/** A request line and headers (the ones a route needs first), then the framing headers under test. */
const head = (line: string, headers: string[], framing: string[]) => `${line} HTTP/1.1\r\nhost: localhost\r\n${[...headers, ...framing].map((h) => `${h}\r\n`).join('')}\r\n`;

/** Ambiguous framings, each followed by a body as uWS would read it and then a smuggled request. */
const AMBIGUOUS: { name: string; framing: string[]; body: string }[] = [
  { name: 'two different Content-Length', framing: [`content-length: ${BODY.length}`, `content-length: ${BODY.length + SMUGGLED.length}`], body: BODY },
  { name: 'Content-Length 0 then another', framing: ['content-length: 0', `content-length: ${SMUGGLED.length}`], body: '' },
  { name: 'Transfer-Encoding: chunked, identity', framing: ['transfer-encoding: chunked, identity'], body: chunked(BODY) },
  { name: 'Transfer-Encoding: gzip', framing: ['transfer-encoding: gzip'], body: chunked(BODY) },
  { name: 'two Transfer-Encoding headers', framing: ['transfer-encoding: chunked', 'transfer-encoding: chunked'], body: chunked(BODY) },
  { name: 'empty Transfer-Encoding', framing: ['transfer-encoding: '], body: '' },
  { name: 'empty Content-Length', framing: ['content-length: '], body: '' },
];

describe('HTTP request framing', () => {
  let t: TestServer;
  let routes: { name: string; line: string; headers: string[] }[];

  before(async () => {
    t = await startTestServer({ env: { SERVE_DEMO: 'true' } });
    const token = await t.token('framer');
    const json = 'content-type: application/json';
    routes = [
      { name: 'GET /healthz', line: 'GET /healthz', headers: [] },
      { name: 'HEAD /healthz', line: 'HEAD /healthz', headers: [] },
      { name: 'POST /api/messages', line: 'POST /api/messages', headers: [`authorization: Bearer ${token}`, json] },
      { name: 'POST /api/auth/login', line: 'POST /api/auth/login', headers: [json] },
      { name: 'GET /api/me', line: 'GET /api/me', headers: [`authorization: Bearer ${token}`] },
      { name: 'GET / (demo)', line: 'GET /', headers: [] },
      { name: 'OPTIONS preflight', line: 'OPTIONS /api/messages', headers: ['origin: http://localhost', 'access-control-request-method: POST'] },
      { name: 'unknown route', line: 'GET /nowhere', headers: [] },
      { name: 'WebSocket upgrade without a token', line: `GET ${t.config.wsPath}`, headers: ['upgrade: websocket', 'connection: Upgrade', 'sec-websocket-version: 13', 'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=='] },
    ];
  });
  after(() => t.close());

  it('answers 400 bad_request and closes the connection, on every route', async () => {
    let cases = 0;
    for (const route of routes) {
      for (const { name, framing, body } of AMBIGUOUS) {
        const result = await rawRequest(t.server.port, head(route.line, route.headers, framing) + body, { waitMs: 3000 });
        const what = `${route.name}, ${name}: ${result.response.slice(0, 120)}`;
        assert.deepEqual(statuses(result.response), [400], what);
        assert.match(result.response, /"code":"bad_request"/, what);
        assert.ok(result.closedByServer, `closed: ${what}`);
        cases++;
      }
    }
    assert.equal(t.server.metrics.httpRequests.cell('bad_framing', '400').value, cases);
    console.log(`http-framing: ${cases} ambiguous requests (${AMBIGUOUS.length} framings × ${routes.length} routes): each 400 and closed`);
  });

  it('never answers a request smuggled behind an ambiguous one: the connection is closed first', async () => {
    let cases = 0;
    let answered400 = 0;
    for (const route of routes) {
      for (const { name, framing, body } of AMBIGUOUS) {
        const result = await rawRequest(t.server.port, head(route.line, route.headers, framing) + body + SMUGGLED, { waitMs: 3000 });
        const what = `${route.name}, ${name}: ${result.response.slice(0, 120)}`;
        // Usually uWS sees both requests in one read and closes unanswered (see answerBadFraming); a 400 may come first.
        assert.ok([[], [400]].some((expected) => JSON.stringify(expected) === JSON.stringify(statuses(result.response))), what);
        assert.ok(result.closedByServer, `closed: ${what}`);
        if (statuses(result.response).length === 1) answered400++;
        cases++;
      }
    }
    assert.equal((await t.store.counts()).messages, 0, 'nothing stored');
    console.log(`http-framing: ${cases} ambiguous requests with a request smuggled behind: 0 smuggled requests answered, all closed (${answered400} after a 400)`);
  });

  it('Content-Length with Transfer-Encoding: uWS closes the connection itself, before any handler, with no answer', async () => {
    const post = routes.find((route) => route.name === 'POST /api/messages')!;
    for (const framing of [['content-length: 2', 'transfer-encoding: chunked'], ['transfer-encoding: chunked', 'content-length: 2'], ['content-length: 2', 'transfer-encoding: identity']]) {
      const result = await rawRequest(t.server.port, head(post.line, post.headers, framing) + chunked(BODY) + SMUGGLED, { waitMs: 3000 });
      assert.deepEqual(statuses(result.response), [], framing.join(' + '));
      assert.ok(result.closedByServer && result.elapsedMs < 1000, `closed after ${result.elapsedMs} ms`);
    }
  });

  it('still serves sound framing: one Content-Length, the same Content-Length twice, Transfer-Encoding: chunked in any case', async () => {
    const post = routes.find((route) => route.name === 'POST /api/messages')!;
    const send = (id: string) => JSON.stringify({ messageId: id, to: 'bob', body: 'x' });
    const sound = [
      { framing: [`content-length: ${send('f1').length}`], body: send('f1') },
      { framing: [`content-length: ${send('f2').length}`, `Content-Length: ${send('f2').length}`], body: send('f2') },
      { framing: ['transfer-encoding: chunked'], body: chunked(send('f3')) },
      { framing: ['Transfer-Encoding: Chunked'], body: chunked(send('f4')) },
    ];
    for (const { framing, body } of sound) {
      const result = await rawRequest(t.server.port, head(post.line, post.headers, framing) + body, { until: (r) => r.includes('"status":"SENT"') });
      assert.deepEqual(statuses(result.response), [201], framing.join(' + '));
    }
    // Keep-alive continues after a sound request: two pipelined GETs, two answers.
    const twice = 'GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n'.repeat(2);
    const result = await rawRequest(t.server.port, twice, { until: (r) => statuses(r).length === 2 && r.endsWith('}') });
    assert.deepEqual(statuses(result.response), [200, 200]);
  });
});
