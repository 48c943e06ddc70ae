// Opening benchmark WebSocket connections with `ws`.

import WebSocket from 'ws';

export interface OpenOptions {
  token?: string;
  auth?: 'header' | 'cookie';
  timeoutMs: number;
  /** Called for every text frame from the start, so nothing sent before "ready" is missed. */
  onFrame: (data: string) => void;
  onClose?: (code: number, reason: string) => void;
}

/**
 * Open a connection and resolve once it is open. Compression is off on
 * purpose: `ws` offers permessage-deflate by default, and a server that
 * accepted it would make us measure zlib instead of the server.
 */
export function openWs(url: string, opts: OpenOptions): Promise<WebSocket> {
  const headers: Record<string, string> = {};
  if (opts.token) {
    if (opts.auth === 'cookie') headers.Cookie = `token=${opts.token}`;
    else headers.Authorization = `Bearer ${opts.token}`;
  }
  const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: opts.timeoutMs });
  ws.on('message', (data, isBinary) => {
    // Frames arrive as Buffer (or Buffer[] when fragmented); decode once here.
    const text = Array.isArray(data) ? Buffer.concat(data).toString() : isBinary ? String(data) : data.toString();
    opts.onFrame(text);
  });
  return new Promise((resolve, reject) => {
    const fail = (e: Error): void => reject(e);
    ws.once('open', () => {
      ws.off('error', fail);
      // After open, errors surface as close; keep a listener so they never throw.
      ws.on('error', () => {});
      if (opts.onClose) ws.on('close', (code, reason) => opts.onClose!(code, reason.toString()));
      resolve(ws);
    });
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => {
      fail(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`));
      ws.terminate();
    });
  });
}

/** Close politely, but don't let a slow peer hold the benchmark hostage. */
export function closeWs(ws: WebSocket, timeoutMs = 1000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      ws.terminate();
      resolve();
    }, timeoutMs);
    ws.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    ws.close(1000, 'bench done');
  });
}

/**
 * A send function that coalesces every frame sent in the same tick into one
 * write (cork now, uncork on nextTick). Several acks usually arrive in one TCP
 * read, so without this the generator pays one syscall per frame and becomes
 * the bottleneck long before the server. Relies on ws's private `_socket`;
 * if that ever disappears it silently degrades to plain sends.
 */
export function corkingSender(ws: WebSocket): (data: string) => void {
  const sock = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
  if (!sock || typeof sock.cork !== 'function') return (data) => ws.send(data);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    sock.uncork();
  };
  return (data) => {
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(uncork);
    }
    ws.send(data);
  };
}
