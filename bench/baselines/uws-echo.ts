// Baseline: bare uWebSockets.js doing the least possible work for the same
// traffic our server gets. Its CPU per frame / per request is the floor we
// compare our server's CPU per message against.
//   WS  /ws               echo every frame back unchanged
//   POST /api/messages    read + parse the JSON body, answer 201, store nothing

import uWS from 'uWebSockets.js';

const port = Number(process.env.PORT ?? 0);

function readBody(res: uWS.HttpResponse, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.onData((chunk, isLast) => {
    // uWS reuses the ArrayBuffer after the callback returns, so copy it.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  });
}

const app = uWS.App()
  .ws('/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: 64 * 1024,
    idleTimeout: 120,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .post('/api/messages', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    readBody(res, (body) => {
      if (aborted) return;
      let messageId: unknown;
      let ok = true;
      try {
        messageId = (JSON.parse(body.toString()) as { messageId?: unknown }).messageId;
      } catch {
        ok = false;
      }
      // Answering from the onData callback is outside the handler's implicit cork.
      res.cork(() => {
        if (!ok) {
          res.writeStatus('400 Bad Request').end();
          return;
        }
        res
          .writeStatus('201 Created')
          .writeHeader('Content-Type', 'application/json')
          .end(JSON.stringify({ status: 'SENT', messageId, ts: Date.now() }));
      });
    });
  })
  .any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  });

app.listen(port, (token) => {
  if (!token) {
    console.error(JSON.stringify({ msg: 'listen failed', port }));
    process.exit(1);
  }
  console.log(JSON.stringify({ msg: 'listening', port: uWS.us_socket_local_port(token) }));
  // uWS keeps the loop alive by itself; exit promptly when the harness says so.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      uWS.us_listen_socket_close(token);
      process.exit(0);
    });
  }
});
