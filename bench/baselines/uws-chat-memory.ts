// Baseline: our chat protocol on bare uWS, entirely in memory (no database,
// no replay, no retries). Two uses:
//  - it lets the chat load generator be exercised before the real server exists;
//  - its CPU per message is the protocol's floor (JSON + 5 frames per message
//    + JWT check at connect), between "uWS echo" and "our server".
// Auth: Bearer header or `token` cookie, HS256 JWT verified with JWT_SECRET.

import { createVerifier } from 'fast-jwt';
import uWS from 'uWebSockets.js';

const port = Number(process.env.PORT ?? 0);
// Synchronous, as in our server: an upgrade completed after an await, inside res.cork, can be closed by
// this uWS build right after `open` (see src/auth/jwt.ts).
const verifyToken = createVerifier({ key: process.env.JWT_SECRET ?? 'bench-secret', algorithms: ['HS256'] });

interface User {
  userId: string;
}
type Sock = uWS.WebSocket<User>;

const online = new Map<string, Sock>();
// messageId -> sender, so a `delivered` can be turned into a DELIVERED ack.
const senderOf = new Map<string, string>();

function tokenFrom(req: uWS.HttpRequest): string | undefined {
  const h = req.getHeader('authorization');
  if (h.startsWith('Bearer ')) return h.slice(7);
  const m = /(?:^|;\s*)token=([^;]+)/.exec(req.getHeader('cookie'));
  return m?.[1];
}

function send(ws: Sock | undefined, obj: unknown): void {
  ws?.send(JSON.stringify(obj));
}

const app = uWS.App().ws<User>('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  upgrade: (res, req, context) => {
    const token = tokenFrom(req);
    let payload: { sub?: unknown };
    try {
      if (!token) throw new Error('no token');
      payload = verifyToken(token) as { sub?: unknown };
    } catch {
      res.writeStatus('401 Unauthorized').end();
      return;
    }
    res.upgrade<User>(
      { userId: String(payload.sub) },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    online.set(ws.getUserData().userId, ws);
    send(ws, { type: 'ready', replayed: 0 });
  },
  message: (ws, data) => {
    let m: { type?: string; messageId?: string; to?: string; body?: string; messageIds?: string[] };
    try {
      m = JSON.parse(Buffer.from(data).toString());
    } catch {
      return send(ws, { type: 'error', code: 'BAD_JSON', message: 'invalid JSON' });
    }
    const from = ws.getUserData().userId;
    if (m.type === 'send' && m.messageId && m.to && typeof m.body === 'string') {
      const ts = Date.now();
      senderOf.set(m.messageId, from);
      send(ws, { type: 'ack', status: 'SENT', messageId: m.messageId, ts, duplicate: false });
      send(online.get(m.to), { type: 'message', messageId: m.messageId, from, to: m.to, body: m.body, ts });
    } else if (m.type === 'delivered' && Array.isArray(m.messageIds)) {
      for (const id of m.messageIds) {
        const sender = senderOf.get(id);
        if (sender === undefined) continue;
        senderOf.delete(id);
        send(online.get(sender), { type: 'ack', status: 'DELIVERED', messageId: id });
      }
    } else if (m.type === 'sync') {
      send(ws, { type: 'ready', replayed: 0 });
    } else {
      send(ws, { type: 'error', code: 'BAD_REQUEST', message: 'unknown frame', messageId: m.messageId });
    }
  },
  close: (ws) => {
    const { userId } = ws.getUserData();
    if (online.get(userId) === ws) online.delete(userId);
  },
});

app.listen(port, (token) => {
  if (!token) {
    console.error(JSON.stringify({ msg: 'listen failed', port }));
    process.exit(1);
  }
  console.log(JSON.stringify({ msg: 'listening', port: uWS.us_socket_local_port(token) }));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => process.exit(0));
  }
});
