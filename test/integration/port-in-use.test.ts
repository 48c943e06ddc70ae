// One port, one server. uWS binds with SO_REUSEPORT unless told otherwise: a second process on a busy
// port used to start silently and take half the connections. Two real server processes on one port
// (free at the start of each test, picked at runtime): the second is refused with the exact line, unless
// both share the port on purpose with LISTEN_REUSE_PORT=true; a restart after a stop is not refused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent, get, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { freePort } from '../helpers/net.js';
import { testEnv } from '../helpers/server.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';

/** Makes a keep-alive request and resolves with its socket, left open and idle in the agent's pool. */
async function keptAlive(agent: Agent, port: number): Promise<Socket> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => get({ host: '127.0.0.1', port, path: '/healthz', agent }, resolve).on('error', reject));
  const socket = response.socket;
  response.resume();
  await once(response, 'end');
  return socket;
}

/** Sockets in TIME_WAIT whose local port is `port` (Linux: /proc/net/tcp, state 06). */
function timeWaitOn(port: number): number {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).filter((line) => {
    const [, address, , state] = line.trim().split(/\s+/);
    return address?.endsWith(local) && state === '06';
  }).length;
}

describe('a port already in use', { timeout: 60_000 }, () => {
  const running: ServerProcess[] = [];
  const start = (env: Record<string, string>) => {
    const server = spawnServer(testEnv(env));
    running.push(server);
    return server;
  };
  after(async () => {
    for (const server of running) server.kill('SIGKILL');
    await Promise.all(running.map((server) => server.exited));
  });

  it('refuses a second server: "Port <PORT> is already in use" on stderr, exit 1, never listens', async () => {
    const port = await freePort();
    const first = start({ PORT: String(port) });
    assert.equal(await first.listening, port);

    const second = start({ PORT: String(port) });
    const { code, stdout, stderr } = await second.exited;
    assert.equal(code, 1);
    assert.ok(stderr.split('\n').includes(`Port ${port} is already in use`), `stderr: ${stderr}`);
    assert.doesNotMatch(stdout, /"msg":"listening"/);

    // The first one is untouched and still the only one serving.
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    first.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);
  });

  it('refuses a server that asks to share (LISTEN_REUSE_PORT=true) a port held exclusively', async () => {
    const port = await freePort();
    const first = start({ PORT: String(port) });
    await first.listening;
    const second = start({ PORT: String(port), LISTEN_REUSE_PORT: 'true' });
    const { code, stderr } = await second.exited;
    assert.equal(code, 1);
    assert.ok(stderr.split('\n').includes(`Port ${port} is already in use`), `stderr: ${stderr}`);
    first.kill('SIGTERM');
    await first.exited;
  });

  it('a restart on the same port listens at once, while the stopped server\'s connections are still closing', async () => {
    // The way PM2, systemd or a test restarts: stop, then start on the configured port. The stopped
    // server closed its idle keep-alive connections itself, so the kernel still holds their ends
    // (TIME_WAIT, up to a minute); only a live listener may make the port "in use".
    const port = await freePort();
    const first = start({ PORT: String(port) });
    await first.listening;
    const agent = new Agent({ keepAlive: true });
    const idle = await Promise.all([1, 2, 3].map(() => keptAlive(agent, port)));
    const closed = Promise.all(idle.map((socket) => once(socket, 'close')));
    first.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);
    await closed;
    assert.ok(timeWaitOn(port) > 0, 'the stopped server\'s side of its connections lingers (TIME_WAIT)');
    const second = start({ PORT: String(port) });
    assert.equal(await second.listening, port);
    second.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    agent.destroy();
  });

  it('with LISTEN_REUSE_PORT=true on both, two processes share the port on purpose', async () => {
    const port = await freePort();
    const first = start({ PORT: String(port), LISTEN_REUSE_PORT: 'true' });
    assert.equal(await first.listening, port);
    const second = start({ PORT: String(port), LISTEN_REUSE_PORT: 'true' });
    assert.equal(await second.listening, port);
    assert.match(second.stdout(), /"reusePort":true/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    for (const server of [first, second]) server.kill('SIGTERM');
    assert.deepEqual((await Promise.all([first.exited, second.exited])).map((result) => result.code), [0, 0]);
  });
});
