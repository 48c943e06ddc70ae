// What may reach the logs of an error or a connection URI: never credentials or query options.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorSummary, uriForLogs } from '../../src/log.js';

describe('uriForLogs', () => {
  it('keeps scheme, hosts and path, and drops credentials and options (MongoDB and NATS)', () => {
    assert.equal(uriForLogs('mongodb://user:s3cret@db1:27017,db2:27017/chat?replicaSet=rs0&authSource=admin'), 'mongodb://db1:27017,db2:27017/chat');
    assert.equal(uriForLogs('mongodb+srv://u:p@cluster0.example.net/chat'), 'mongodb+srv://cluster0.example.net/chat');
    assert.equal(uriForLogs('nats://token@127.0.0.1:4222'), 'nats://127.0.0.1:4222');
    assert.equal(uriForLogs('nats://a:pw@n1:4222,nats://b:pw@n2:4222'), 'nats://n1:4222,nats://n2:4222');
    assert.equal(uriForLogs('not a uri p@ss'), '(unparsable uri)');
  });
});

describe('errorSummary', () => {
  it('keeps name, message and code only', () => {
    const error = Object.assign(new Error('boom'), { code: 11000, request: { body: 'secret' } });
    assert.deepEqual(errorSummary(error), { name: 'Error', message: 'boom', code: 11000 });
    assert.deepEqual(errorSummary('plain'), { name: 'unknown', message: 'plain' });
  });
});
