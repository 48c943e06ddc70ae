// What the "MongoDB unreachable at startup" line adds when the driver's error says more: a refused
// login or an unknown host is a mistake in DB_URI, and the operator should be told so (an operator
// probe found a wrong password logged as "unreachable", retried forever). Real errors from the real
// driver: a login against the MongoDB-wire test server, and a name the resolver cannot find.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectOnce, likelyCause } from '../../src/store/mongo/connect.js';
import { mongoTestUri } from '../helpers/mongo.js';

const mongo = mongoTestUri();

async function failureOf(uri: string): Promise<unknown> {
  try {
    const client = await connectOnce(uri, { serverSelectionTimeoutMS: 3000 }, async (c) => {
      await c.db('admin').command({ ping: 1 });
    });
    await client.close();
  } catch (error) {
    return error;
  }
  assert.fail(`connected to ${uri}`);
}

describe('why MongoDB could not be reached', () => {
  it('names an unknown host in DB_URI', async () => {
    assert.deepEqual(likelyCause(await failureOf('mongodb://no-such-host.invalid:27017/chat')), { cause: 'the host name in DB_URI was not found (DNS)' });
  });

  it('names a refused login', { skip: mongo ? false : 'TEST_MONGO_URI not set' }, async () => {
    const url = new URL(mongo!);
    url.username = 'nobody';
    url.password = 'wrong-password';
    url.search = '?authSource=admin';
    assert.deepEqual(likelyCause(await failureOf(url.toString())), { cause: 'the login was refused: check the user, password and authSource in DB_URI' });
  });

  it('adds nothing to a server that does not answer', async () => {
    // A port nothing listens on: refused, i.e. an outage (or the wrong port), which the line already says.
    assert.deepEqual(likelyCause(await failureOf('mongodb://127.0.0.1:1/chat')), {});
  });
});
