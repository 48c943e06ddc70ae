// One webhook POST against a real node:http receiver on port 0: what the sender reads of the answer.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { PushPayload } from '../../src/push/notification.js';
import { postPush } from '../../src/push/webhook.js';

const payload: PushPayload = { id: 'p1', userId: 'bob', conversationId: 'c', messageId: 'm', from: 'alice', preview: 'hi', ts: 1 };

describe('webhook POST', () => {
  let server: Server;
  let url: string;
  let bytesWritten = 0;
  let answerClosed: Promise<void>;
  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      // 200, then a body that never ends: the sender must not read (or buffer) it.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      answerClosed = new Promise((resolve) => res.on('close', () => resolve()));
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) bytesWritten += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('a 2xx is success at once: an endless answer body is dropped, not read', { timeout: 10_000 }, async () => {
    const started = Date.now();
    const result = await postPush({ url, secret: 's', timeoutMs: 5000 }, payload, new AbortController().signal);
    assert.deepEqual(result, { ok: true });
    assert.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms, not after the timeout`);
    await answerClosed;
    assert.ok(bytesWritten < 64 * 1024 * 1024, `the receiver could write only ${bytesWritten} bytes before the sender hung up`);
  });
});
