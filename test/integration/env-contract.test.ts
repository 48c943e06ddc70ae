// The production env contract, checked on the real process: exit codes, the exact stderr lines
// operators grep for, and that a refused start never listens.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { productionEnv, spawnServer } from '../helpers/spawn.js';

const REQUIRED = ['NODE_ENV', 'PORT', 'JWT_SECRET', 'DB_URI', 'COOKIE_DOMAIN', 'CORS_ORIGIN', 'WS_PATH'];
const JWT_LINE = 'JWT_SECRET is required and must be a non-empty string.';

async function refused(env: Record<string, string>) {
  const server = spawnServer(env);
  const result = await server.exited;
  assert.equal(result.code, 1, result.stderr);
  assert.doesNotMatch(result.stdout, /"msg":"listening"/);
  return result.stderr.split('\n').filter((line) => line !== '');
}

describe('env contract', { concurrency: 4 }, () => {
  it('production: prints one line per missing variable, then the JWT_SECRET error, and exits 1', async () => {
    const lines = await refused({ NODE_ENV: 'production' });
    const expected = REQUIRED.filter((name) => name !== 'NODE_ENV').map((name) => `Missing required environment variable for production: ${name}`);
    assert.deepEqual(lines.slice(0, expected.length), expected);
    assert.ok(lines.some((line) => line.includes(JWT_LINE)), lines.join('\n'));
    assert.ok(lines.indexOf(lines.find((l) => l.includes(JWT_LINE))!) > lines.indexOf(expected.at(-1)!));
  });

  for (const name of REQUIRED.filter((n) => n !== 'NODE_ENV')) {
    it(`production: a missing or empty ${name} is refused with its line`, async () => {
      const missing = productionEnv();
      delete missing[name];
      assert.ok((await refused(missing)).includes(`Missing required environment variable for production: ${name}`));
      const empty = productionEnv({ [name]: '' });
      assert.ok((await refused(empty)).includes(`Missing required environment variable for production: ${name}`));
    });
  }

  it('any mode: a missing JWT_SECRET throws its error before the server starts', async () => {
    const lines = await refused({ NODE_ENV: 'development' });
    assert.ok(lines.some((line) => line.includes(JWT_LINE)));
    const none = await refused({});
    assert.ok(none.some((line) => line.includes(JWT_LINE)));
  });

  it('refuses invalid values with one clear line each, never echoing a DB_URI', async () => {
    const lines = await refused({
      JWT_SECRET: 'x',
      PORT: 'abc',
      WS_PATH: 'ws',
      DB_URI: 'postgres://user:hunter2@db/x',
      CORS_ORIGIN: 'not a url',
    });
    for (const name of ['PORT', 'WS_PATH', 'DB_URI', 'CORS_ORIGIN']) {
      assert.equal(lines.filter((line) => line.startsWith(`Invalid environment variable ${name}:`)).length, 1, `${name}: ${lines.join('\n')}`);
    }
    assert.doesNotMatch(lines.join('\n'), /hunter2/);
    assert.ok((await refused({ JWT_SECRET: 'x', PORT: '70000' })).some((line) => line.startsWith('Invalid environment variable PORT:')));
    assert.ok((await refused({ JWT_SECRET: 'x', CORS_ORIGIN: 'https://a.example.com/path' })).some((line) => line.startsWith('Invalid environment variable CORS_ORIGIN:')));
  });

  it('starts the runbook one-liner in production (weak secret: a warning, not a refusal) and stops on SIGTERM with 0', async () => {
    const server = spawnServer(productionEnv({ CORS_ORIGIN: 'http://localhost:3000,https://app.example.com' }));
    const port = await server.listening;
    assert.ok(port > 0);
    assert.match(server.stdout(), /JWT_SECRET is shorter than 32 bytes/);
    assert.match(server.stdout(), /DB_URI=mem in production: messages live in this process only/);
    assert.match(server.stdout(), /"uws":"native"/);
    assert.doesNotMatch(server.stdout() + server.stderr(), /metrics-secret-for-tests|"secret"/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    server.kill('SIGTERM');
    const { code } = await server.exited;
    assert.equal(code, 0);
  });

  it('development defaults: port from PORT, in-memory store, open metrics, no bus', async () => {
    const server = spawnServer({ JWT_SECRET: 'dev-secret', PORT: '0' });
    const port = await server.listening;
    assert.match(server.stdout(), /"store":"memory"/);
    assert.match(server.stdout(), /"wsPath":"\/ws"/);
    assert.match(server.stdout(), /"bus":"none"/);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(metrics.status, 200, 'METRICS_MODE defaults to open outside production');
    assert.match(await metrics.text(), /chat_connections_open/);
    server.kill('SIGTERM');
    assert.equal((await server.exited).code, 0);
  });
});
