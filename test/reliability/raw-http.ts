// A raw TCP HTTP client for requests no well-behaved client library would send: slow bodies, header
// floods, conflicting framing headers, bodies larger than anything the server should read.
import net from 'node:net';

export interface RawResult {
  /** Everything the server wrote, as latin1 text. */
  readonly response: string;
  /** The status of the first response, or 0 if none came. */
  readonly status: number;
  /** True if the server closed (or reset) the connection before `waitMs`. */
  readonly closedByServer: boolean;
  readonly elapsedMs: number;
  /** Bytes the client had written when the first response byte arrived (or at the end). */
  readonly writtenAtResponse: number;
}

export interface RawOptions {
  /** Give up (and report closedByServer=false) after this long. */
  readonly waitMs?: number;
  /** Called once connected; writes more on its own schedule and calls `stop()` when told. */
  readonly drive?: (socket: net.Socket, written: () => number, track: (bytes: number) => void) => () => void;
  /** Stop waiting (closedByServer=false) as soon as this holds for what the server wrote so far. */
  readonly until?: (response: string) => boolean;
}

export function rawRequest(port: number, head: string | Buffer, options: RawOptions = {}): Promise<RawResult> {
  const waitMs = options.waitMs ?? 5000;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = Date.now();
    let response = '';
    let written = 0;
    let writtenAtResponse = -1;
    let finished = false;
    let stopDriving: (() => void) | undefined;
    const track = (bytes: number) => (written += bytes);
    const finish = (closedByServer: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stopDriving?.();
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
      resolve({ response, status, closedByServer, elapsedMs: Date.now() - started, writtenAtResponse: writtenAtResponse < 0 ? written : writtenAtResponse });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk) => {
      if (writtenAtResponse < 0) writtenAtResponse = written;
      response += chunk.toString('latin1');
      if (options.until?.(response)) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(head);
      track(Buffer.byteLength(head));
      if (options.drive) stopDriving = options.drive(socket, () => written, track);
    });
  });
}

/** The status codes of every response in `response`, in order (pipelined requests get one each). */
export function statuses(response: string): number[] {
  return [...response.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((match) => Number(match[1]));
}

/** Writes `chunk` every `everyMs` until stopped or the socket dies. */
export function drip(chunk: string | Buffer, everyMs: number): NonNullable<RawOptions['drive']> {
  return (socket, _written, track) => {
    const timer = setInterval(() => {
      if (socket.destroyed || !socket.writable) return;
      socket.write(chunk);
      track(Buffer.byteLength(chunk));
    }, everyMs);
    return () => clearInterval(timer);
  };
}

/** Writes as fast as the socket takes it, up to `total` bytes of `chunk`s. */
export function flood(chunk: Buffer, total: number): NonNullable<RawOptions['drive']> {
  return (socket, written, track) => {
    let stopped = false;
    const pump = () => {
      while (!stopped && !socket.destroyed && written() < total) {
        track(chunk.length);
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
    return () => (stopped = true);
  };
}

export function postHead(path: string, headers: Record<string, string>): string {
  return `POST ${path} HTTP/1.1\r\nhost: localhost\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}
