// A client that pipelines HTTP requests and never reads the answers must not make the server hold
// them all (they used to pile up in uWS's per-socket buffer until the idle timeout, no login needed):
// its connection is closed once an answer cannot be written at all. Clients that read keep working.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';

const HEALTHZ = 'GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n';
const answers = (text: string) => text.split('HTTP/1.1 200 OK').length - 1;

/** Connects, sends `request`, and resolves with everything read once `count` answers have arrived. */
function readAnswers(socket: net.Socket, request: string, count: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onClose = () => reject(new Error(`closed after ${answers(text)} of ${count} answers`));
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (answers(text) < count || !text.endsWith('{"status":"ok"}')) return;
      socket.off('data', onData).off('error', reject).off('close', onClose);
      resolve(text);
    };
    socket.on('data', onData).once('error', reject).once('close', onClose);
    socket.write(request);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('HTTP pipelining', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('closes a connection that pipelines 100 000 requests and reads nothing; other clients are answered meanwhile', async () => {
    const flooder = await connect(t.server.port);
    flooder.pause();
    const closed = new Promise<number>((resolve) => {
      const started = Date.now();
      flooder.on('error', () => {});
      flooder.once('close', () => resolve(Date.now() - started));
    });
    flooder.write(HEALTHZ.repeat(100_000));

    // Another client, answered promptly while the flood is handled.
    const started = Date.now();
    const res = await fetch(`${t.httpUrl}/healthz`);
    assert.equal(res.status, 200);
    await res.text();
    assert.ok(Date.now() - started < 2000, `healthz took ${Date.now() - started} ms during the flood`);

    // The flooder now reads what it was sent: far fewer answers than requests, then the end.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let received = '';
    flooder.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    flooder.resume();
    const closedAfterMs = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5000))]);
    flooder.destroy();
    assert.ok(closedAfterMs >= 0, 'the server kept the flooding connection open');
    assert.ok(answers(received) < 100_000, `${answers(received)} answers sent to a client that read nothing`);
    // What it was sent is bounded by the socket buffers, not by what it asked for (~20 MB of answers).
    assert.ok(received.length < 12 * 1024 * 1024, `${received.length} bytes held for a client that read nothing`);

    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    assert.match(metrics, /^chat_http_unread_closes_total [1-9]/m);
  });

  it('answers 200 sequential requests on one keep-alive connection', async () => {
    const socket = await connect(t.server.port);
    try {
      for (let i = 0; i < 200; i++) await readAnswers(socket, HEALTHZ, 1);
    } finally {
      socket.destroy();
    }
  });

  it('answers every request of a pipelined batch that the client reads', async () => {
    const socket = await connect(t.server.port);
    try {
      const text = await readAnswers(socket, HEALTHZ.repeat(20), 20);
      assert.equal(answers(text), 20);
      // And the connection is still usable afterwards.
      assert.equal(answers(await readAnswers(socket, HEALTHZ, 1)), 1);
    } finally {
      socket.destroy();
    }
  });
});
