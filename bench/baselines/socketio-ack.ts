// Baseline: Socket.IO's cost for "client emits, server acks" - the pattern a
// Socket.IO-based chat would use for SENT acks. Stores nothing, no rooms.

import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 0);
const http = createServer();
// WebSocket only: the load generator never long-polls, and allowing polling
// would only add the upgrade handshake to connection setup.
const io = new Server(http, { transports: ['websocket'], serveClient: false });

interface SendPayload {
  messageId?: string;
  to?: string;
  body?: string;
}

io.on('connection', (socket) => {
  socket.on('send', (payload: SendPayload, ack?: (r: unknown) => void) => {
    if (typeof ack === 'function') ack({ status: 'SENT', messageId: payload?.messageId, ts: Date.now() });
  });
});

http.listen(port, '127.0.0.1', () => {
  const addr = http.address();
  console.log(JSON.stringify({ msg: 'listening', port: typeof addr === 'object' && addr ? addr.port : port }));
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    io.close();
    process.exit(0);
  });
}
