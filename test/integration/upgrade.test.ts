// A freshly upgraded socket must stay open. The uWS build we run closes a WebSocket right after `open`
// when the upgrade is completed asynchronously inside res.cork and the finished HTTP response reads as
// "Connection: close" (uNetworking/uWebSockets#1928): at random under normal handshakes, every time
// when the handshake itself carries `Connection: close`. The server completes upgrades synchronously;
// these tests fail if that ever regresses.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

/** Upgrades over raw TCP with the given Connection header; resolves what arrived before `ready` or a close. */
function rawUpgrade(port: number, token: string, connection: string): Promise<{ text: string; closedBeforeReady: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => finish(false), 5000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closedBeforeReady: closed });
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('"type":"ready"')) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () =>
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n' +
          `Connection: ${connection}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
          `Authorization: Bearer ${token}\r\n\r\n`,
      ),
    );
  });
}

describe('WebSocket upgrade', () => {
  let t: TestServer;
  before(async () => (t = await startTestServer()));
  after(() => t.close());

  for (const connection of ['Upgrade', 'Upgrade, close', 'close']) {
    it(`keeps the socket open after a handshake with "Connection: ${connection}", with a fresh and a cached token`, async () => {
      const token = await t.token(`u-${connection.replace(/\W+/g, '-')}`);
      for (const attempt of ['fresh', 'cached']) {
        const { text, closedBeforeReady } = await rawUpgrade(t.server.port, token, connection);
        assert.match(text, /^HTTP\/1\.1 101 /, attempt);
        assert.equal(closedBeforeReady, false, `${attempt} token: the server closed the new socket before ready`);
      }
    });
  }

  it('opens 200 sockets in a row, each with a token never seen before, and every one gets ready', async () => {
    const clients: TestClient[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        const { client } = await TestClient.connectReady(t.wsUrl, await t.token(`burst-${i}`));
        clients.push(client);
      }
      const closed = await Promise.race([Promise.any(clients.map((c) => c.closed)), new Promise((r) => setTimeout(() => r('none'), 100))]);
      assert.equal(closed, 'none', 'no socket was closed after ready');
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });
});
