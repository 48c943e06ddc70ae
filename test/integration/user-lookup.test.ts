// GET /api/users/:userId: does this server have an account by that name (the demo's notice before a
// direct message to a stranger)? Authenticated; case-insensitive; the name as registered comes back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('account lookup', () => {
  let t: TestServer;
  let auth: Record<string, string>;
  before(async () => {
    t = await startTestServer();
    const res = await fetch(`${t.httpUrl}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'Zoe.Known', password: 'password123' }),
    });
    assert.equal(res.status, 201);
    auth = { authorization: `Bearer ${await t.token('asker')}` };
  });
  after(() => t.close());

  const lookup = (id: string, headers: Record<string, string> = auth) => fetch(`${t.httpUrl}/api/users/${id}`, { headers });

  it('answers 200 with the name as registered for an account, ignoring case, and 404 for none', async () => {
    const found = await lookup('zoe.known');
    assert.equal(found.status, 200);
    assert.deepEqual(await found.json(), { userId: 'Zoe.Known', exists: true });
    const missing = await lookup('nobody-here');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
  });

  it('needs a token, and refuses a malformed id with 400', async () => {
    assert.equal((await lookup('zoe.known', {})).status, 401);
    assert.equal((await lookup('bad%20id')).status, 400);
    assert.equal((await lookup('x'.repeat(65))).status, 400);
  });
});
