// The SDK against a fake server (a plain `ws` WebSocketServer) playing a hostile or buggy one: what it
// says must not make the client hammer it. Found by a probe (docs/client.md, "retryAfter" and
// "reconnects"):
// - a `retryAfter` of 1e309 (Infinity), 1e7, -1 or 0 made setTimeout fire after 1 ms: the SDK wrote the
//   refused send again over a thousand times in 2 s;
// - a server that sends `ready` and then closes reset the backoff on every `ready`: the SDK reconnected
//   (with a full replay each time) as fast as the initial delay allowed, forever.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, type ConnectOptions } from '../../src/client/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fake server: `onConnection` plays each connection; `frames` is what the client wrote. */
async function fakeServer(onConnection: (socket: WebSocket, n: number) => void) {
  const server = new WebSocketServer({ port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const frames: { type: string; [key: string]: unknown }[] = [];
  let connections = 0;
  server.on('connection', (socket) => {
    socket.on('message', (data) => frames.push(JSON.parse(String(data))));
    onConnection(socket, ++connections);
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    frames,
    connections: () => connections,
    close: () => new Promise((resolve) => (server.clients.forEach((c) => c.terminate()), server.close(resolve))),
  };
}

const client = (url: string, options: Partial<ConnectOptions> = {}) => connect({ url, token: 'not-used', WebSocket, device: 'dev1', heartbeatMs: 0, ...options });

describe('a hostile server', { timeout: 30_000 }, () => {
  it('a retryAfter that is not finite, negative, zero or huge does not make the SDK re-send at once', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    // The raw text: 1e309 parses as Infinity (JSON.stringify cannot write it).
    const values = ['1e309', '1e7', '-1', '0'];
    const runs = await Promise.all(
      values.map(async (retryAfter) => {
        const server = await fakeServer((socket) => {
          socket.send(JSON.stringify({ type: 'ready', replayed: 0 }));
          socket.on('message', (data) => {
            const frame = JSON.parse(String(data));
            if (frame.type === 'send') socket.send(`{"type":"error","code":"unavailable","message":"x","messageId":"${frame.messageId}","retryAfter":${retryAfter}}`);
          });
        });
        const chat = client(server.url);
        const errors: unknown[] = [];
        chat.on('error', (e) => errors.push(e));
        chat.send('bob', 'hi').catch(() => {});
        await sleep(1500);
        chat.close();
        await server.close();
        return { retryAfter, sends: server.frames.filter((f) => f.type === 'send').length, errors: errors.length };
      }),
    );
    process.off('warning', onWarning);
    for (const run of runs) {
      // Written once, refused, and (the default wait being at least 1 s, the capped one 30 min) at most once more.
      assert.ok(run.sends >= 1 && run.sends <= 2, `retryAfter ${run.retryAfter}: the send was written ${run.sends} times in 1.5 s`);
    }
    assert.deepEqual(warnings.filter((name) => name === 'TimeoutOverflowWarning'), [], 'no timer overflowed');
  });

  it('a server that sends ready and closes at once is reconnected to with a growing backoff, not at the initial delay', async () => {
    const times: number[] = [];
    const server = await fakeServer((socket) => {
      times.push(performance.now());
      socket.send(JSON.stringify({ type: 'ready', replayed: 0 }));
      setTimeout(() => socket.close(1000), 5);
    });
    const initialDelayMs = 40;
    const maxDelayMs = 320;
    const chat = client(server.url, { reconnect: { initialDelayMs, maxDelayMs } });
    await sleep(2500);
    chat.close();
    await server.close();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const shown = gaps.map((g) => g.toFixed(0)).join(', ');
    // Delays 20-40, 40-80, 80-160, then 160-320 ms each: about a dozen connections in 2.5 s (reset on
    // every ready: 20-40 ms each, over fifty).
    assert.ok(times.length <= 16, `${times.length} connections in 2.5 s; gaps ${shown} ms`);
    for (const gap of gaps.slice(4)) assert.ok(gap >= maxDelayMs / 2, `capped attempts wait at least half the cap; gaps ${shown} ms`);
  });
});
