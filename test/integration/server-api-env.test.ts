// SERVER_API_KEY in the production env contract, on the real process: a key shorter than 32
// characters refuses the start with its line (never echoing the key); a long one starts and turns the
// server API on; outside production a short key is accepted (development convenience).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { productionEnv, spawnServer } from '../helpers/spawn.js';

const SHORT = 'short-key-31-characters-long-xx';
const LONG = 'a-production-server-api-key-of-40-chars!';
const LINE = 'Invalid environment variable SERVER_API_KEY: must be at least 32 characters in production (it acts as any user); use e.g. `openssl rand -hex 32`';

describe('SERVER_API_KEY env contract', { concurrency: 2 }, () => {
  it('production: a key shorter than 32 characters refuses the start with one line, without the key', async () => {
    assert.equal([...SHORT].length, 31);
    const server = spawnServer(productionEnv({ SERVER_API_KEY: SHORT }));
    const result = await server.exited;
    assert.equal(result.code, 1, result.stderr);
    assert.doesNotMatch(result.stdout, /"msg":"listening"/);
    assert.ok(result.stderr.split('\n').includes(LINE), result.stderr);
    assert.ok(!(result.stdout + result.stderr).includes(SHORT));
  });

  it('production: a long key starts, answers the server API, and is never printed', async () => {
    const server = spawnServer(productionEnv({ SERVER_API_KEY: LONG }));
    const port = await server.listening;
    const answer = await fetch(`http://127.0.0.1:${port}/api/server/users/someone/access`, { headers: { authorization: `Bearer ${LONG}` } });
    assert.equal(answer.status, 200);
    const refused = await fetch(`http://127.0.0.1:${port}/api/server/users/someone/access`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(refused.status, 401);
    server.kill('SIGTERM');
    const { code, stdout, stderr } = await server.exited;
    assert.equal(code, 0);
    assert.ok(!(stdout + stderr).includes(LONG));
  });

  it('outside production a short key is accepted; unset, the server API is off', () => {
    assert.equal(loadConfig({ JWT_SECRET: 'x', SERVER_API_KEY: 'dev' }).config.serverApi.key, 'dev');
    assert.equal(loadConfig({ JWT_SECRET: 'x' }).config.serverApi.key, undefined);
    assert.equal(loadConfig({ JWT_SECRET: 'x' }).config.accessRefreshMs, 1000);
  });
});
