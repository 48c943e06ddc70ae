// The SDK when its user is banned through the server API: the server closes the socket with 4003 and
// the SDK ends (state `closed`, error `banned`) instead of reconnecting into refusals.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import WebSocket from 'ws';
import { connect, type ClientErrorEvent, type ClientState } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const KEY = 'sdk-ban-test-key-0123456789abcdefghijklmnop';
let t: TestServer;
before(async () => {
  t = await startTestServer({ env: { SERVER_API_KEY: KEY } });
});
after(() => t.close());

it('a banned user’s SDK ends with error banned and does not reconnect', async () => {
  const client = connect({ url: t.wsUrl, token: await t.token('sdk-banned'), WebSocket, device: 'd1' });
  const states: ClientState[] = [];
  const errors: ClientErrorEvent[] = [];
  client.on('state', (state) => states.push(state));
  client.on('error', (error) => errors.push(error));
  await client.whenReady();
  const closed = new Promise<void>((resolve) => client.on('state', (state) => state === 'closed' && resolve()));
  const answer = await fetch(`${t.httpUrl}/api/server/users/sdk-banned/ban`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(answer.status, 200);
  await closed;
  assert.deepEqual(errors.map((e) => e.code), ['banned']);
  assert.equal(states.includes('reconnecting'), false, `no reconnect attempt: ${states.join(' → ')}`);
});
