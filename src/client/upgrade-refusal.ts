// Why the server refused a WebSocket upgrade, where the runtime lets the SDK read it. A browser hides
// the answer to a refused upgrade (the socket just closes, 1006), so there every refusal looks like a
// network failure. Node's `ws` emits 'unexpected-response' with the HTTP answer when someone listens;
// its body is the server's `{"error":{"code","message"}}`. Listening means `ws` no longer ends the
// handshake by itself, so the socket is closed here once the body is read.
import type { WebSocketLike } from './types.js';

export interface UpgradeRefusal {
  readonly status: number;
  /** The server's error code (e.g. `bad_request`), when the body had one. */
  readonly code?: string;
  readonly message: string;
}

/** What is read of a refusal's body at most: the server's error bodies are far smaller. */
const MAX_BODY_CHARS = 4096;

/** The parts of `ws`'s socket and of Node's response this needs (no Node types in the SDK). */
interface EventSource {
  on(event: string, listener: (...args: never[]) => void): unknown;
}
interface Response extends EventSource {
  readonly statusCode?: number;
  setEncoding?(encoding: string): void;
}

/** Calls `refused` with the answer when the upgrade is refused, if this socket can tell (Node `ws`). */
export function watchUpgradeRefusal(socket: WebSocketLike, refused: (refusal: UpgradeRefusal) => void): void {
  const source = socket as unknown as Partial<EventSource>;
  if (typeof source.on !== 'function') return;
  source.on('unexpected-response', (_request: unknown, response: Response) => {
    let body = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      refused(refusalOf(response.statusCode ?? 0, body));
      socket.close(); // ends the handshake: the close that follows is the SDK's usual "refused before open"
    };
    response.setEncoding?.('utf8');
    response.on('data', (chunk: string) => {
      if (body.length < MAX_BODY_CHARS) body += String(chunk).slice(0, MAX_BODY_CHARS - body.length);
    });
    response.on('end', finish);
    response.on('error', finish);
    response.on('close', finish);
  });
}

function refusalOf(status: number, body: string): UpgradeRefusal {
  try {
    const error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.message === 'string') return { status, ...(typeof error.code === 'string' ? { code: error.code } : {}), message: error.message };
  } catch {
    // not the server's JSON (a proxy's page): the status says enough
  }
  return { status, message: `The server refused the connection (HTTP ${status})` };
}
