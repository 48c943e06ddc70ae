// Account bodies that are not valid UTF-8, on the real server. Decoded leniently, every invalid byte
// became U+FFFD: 8 × 0xFF registered a password that 8 × 0xFE, 4 × C0 AF or "\ufffd" × 8 then all
// matched. They are refused with 400, as on /api/messages, and nothing is registered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** A register/login body with `password` spliced in as raw bytes. */
const bodyWith = (username: string, password: Buffer) =>
  Buffer.concat([Buffer.from(`{"username":"${username}","password":"`), password, Buffer.from('"}')]);

const INVALID: Record<string, Buffer> = {
  '8 × FF': Buffer.alloc(8, 0xff),
  '8 × FE': Buffer.alloc(8, 0xfe),
  '4 × overlong C0 AF': Buffer.from('c0afc0afc0afc0af', 'hex'),
  'a UTF-8-encoded surrogate': Buffer.concat([Buffer.from('password'), Buffer.from([0xed, 0xa0, 0x80])]),
  'a truncated sequence': Buffer.concat([Buffer.from('password'), Buffer.from([0xe2, 0x82])]),
};

describe('account bodies that are not valid UTF-8', () => {
  let t: TestServer;
  const post = (path: string, body: Buffer) => fetch(`${t.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  before(async () => {
    t = await startTestServer({ env: { AUTH_RATE_PER_IP_PER_MIN: '100000', AUTH_RATE_PER_USER_PER_MIN: '100000' } });
  });
  after(() => t.close());

  it('register and login answer 400 bad_request to every invalid password, and nothing is registered', async () => {
    for (const [name, bytes] of Object.entries(INVALID)) {
      for (const path of ['/api/auth/register', '/api/auth/login']) {
        const res = await post(path, bodyWith('mallory', bytes));
        assert.equal(res.status, 400, `${path} ${name}`);
        assert.deepEqual(await res.json(), { error: { code: 'bad_request', message: 'Body is not valid UTF-8' } });
      }
    }
    // Nothing was registered: the name is still free.
    const res = await post('/api/auth/register', Buffer.from(JSON.stringify({ username: 'mallory', password: 'a real password' })));
    assert.equal(res.status, 201);
  });

  it('U+FFFD is an ordinary character: "\\ufffd" × 8 registers and logs in, and no invalid byte sequence matches it', async () => {
    const replacement = '\ufffd'.repeat(8);
    assert.equal((await post('/api/auth/register', Buffer.from(JSON.stringify({ username: 'trent', password: replacement })))).status, 201);
    assert.equal((await post('/api/auth/login', Buffer.from(JSON.stringify({ username: 'trent', password: replacement })))).status, 200);
    for (const [name, bytes] of Object.entries(INVALID)) {
      assert.equal((await post('/api/auth/login', bodyWith('trent', bytes))).status, 400, name);
    }
  });
});
