// An upgrade the server refuses with 400 (a parameter it will never accept: ackDelayMs over its
// ACK_DELAY_MAX_MS) is permanent: the SDK ends with a `bad_request` error carrying the server's message
// instead of cycling connecting → reconnecting for ever. Node's `ws` hands the refused answer over
// ('unexpected-response'); a 401 still goes through the credential check as before.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { ChatClientError, connect, type ClientErrorEvent, type ClientState } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const QUICK = { reconnect: { initialDelayMs: 20, maxDelayMs: 50 } };

describe('SDK: an upgrade refused for good', { timeout: 20_000 }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('ackDelayMs over the server maximum: one bad_request error with the server message, state closed, no retry', async () => {
    const client = connect({ url: t.wsUrl, token: await t.token('too-patient'), WebSocket, ackDelayMs: 5000, ...QUICK });
    const states: ClientState[] = [];
    const errors: ClientErrorEvent[] = [];
    client.on('state', (state) => states.push(state));
    client.on('error', (error) => errors.push(error));
    const pending = client.send('someone', 'never sent').catch((error: unknown) => error);
    await assert.rejects(client.whenReady(), (e: ChatClientError) => e.code === 'closed');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.equal(errors[0]!.code, 'bad_request');
    assert.equal(errors[0]!.willRetry, false);
    assert.match(errors[0]!.message, /ackDelayMs must be a whole number of milliseconds from 0 to 1000 \(ACK_DELAY_MAX_MS\)/);
    assert.deepEqual(states, ['closed'], 'no reconnect attempt');
    const refused = await pending;
    assert.ok(refused instanceof ChatClientError && refused.code === 'bad_request', 'the waiting send is rejected with it');
  });

  it('a 401 is still a credential question: renewed once, then unauthorized', async () => {
    const client = connect({ url: t.wsUrl, token: await t.token('forged', { secret: 'not-the-server-secret-0123456789abcdef' }), WebSocket, ...QUICK });
    const errors: ClientErrorEvent[] = [];
    client.on('error', (error) => errors.push(error));
    await assert.rejects(client.whenReady(), (e: ChatClientError) => e.code === 'closed');
    assert.deepEqual(errors.map((e) => e.code), ['unauthorized']);
  });
});
