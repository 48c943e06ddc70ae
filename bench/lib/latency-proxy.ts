// A TCP proxy that adds a fixed one-way delay in each direction: MongoDB "across a network" for the
// store benchmarks (issue 16: 0.5 ms each way, as between two hosts in one region), in front of the
// loopback FerretDB.
//
//   node --import tsx bench/lib/latency-proxy.ts --target 127.0.0.1:27017 [--listen 127.0.0.1:0] [--delay-ms 0.5]
//     prints {"msg":"listening","port":N,"target":…,"delayMs":…} on stdout, runs until SIGINT/SIGTERM
//
//   import { startLatencyProxy } from './lib/latency-proxy.js';
//   const proxy = await startLatencyProxy({ target: '127.0.0.1:27017', delayMs: 0.5 });
//   const uri = `mongodb://127.0.0.1:${proxy.port}/`;   …   await proxy.close();
//
// How the delay is kept exact enough at sub-millisecond values: Node timers have 1 ms granularity, so
// each chunk is stamped with its due time (arrival + delay) and queued per direction; one timer per
// direction wakes at the head's due time and writes every chunk that is due, then spins with
// setImmediate while the next one is less than a millisecond away. Order within a direction is kept
// (a FIFO), and a chunk is never released early. Bandwidth is not limited: only latency is added.
// The spin costs the proxy's own CPU (a separate process with the CLI, so not the server's).

import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface LatencyProxyOptions {
  /** host:port of the real server. */
  target: string;
  /** One-way delay added to every chunk, in each direction. Default 0.5. */
  delayMs?: number;
  /** host:port to listen on; default 127.0.0.1:0 (a free port). */
  listen?: string;
}

export interface LatencyProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

function hostPort(s: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  const at = s.lastIndexOf(':');
  if (at < 0) return { host: defaultHost, port: Number(s) };
  return { host: s.slice(0, at) || defaultHost, port: Number(s.slice(at + 1)) };
}

/** One direction of one connection: chunks released in order once `delayMs` old. */
class DelayLine {
  private readonly chunks: Buffer[] = [];
  private readonly due: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private spinning = false;
  private ended = false;

  constructor(
    private readonly to: Socket,
    private readonly delayMs: number,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.due.push(performance.now() + this.delayMs);
    if (this.chunks.length - this.head === 1) this.schedule();
  }

  /** The source ended: end the destination once everything queued is out. */
  end(): void {
    this.ended = true;
    if (this.chunks.length === this.head) this.to.end();
  }

  private schedule(): void {
    if (this.timer || this.spinning || this.chunks.length === this.head) return;
    const wait = this.due[this.head]! - performance.now();
    if (wait >= 1.5) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.release();
      }, Math.floor(wait - 0.5));
    } else {
      this.spinning = true;
      setImmediate(() => {
        this.spinning = false;
        this.release();
      });
    }
  }

  private release(): void {
    const now = performance.now();
    let n = 0;
    while (this.head < this.chunks.length && this.due[this.head]! <= now) {
      if (!this.to.destroyed) this.to.write(this.chunks[this.head]!);
      this.head++;
      n++;
    }
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.due.length = 0;
      this.head = 0;
      if (this.ended) return void this.to.end();
    } else if (this.head > 1024) {
      this.chunks.splice(0, this.head);
      this.due.splice(0, this.head);
      this.head = 0;
    }
    void n;
    this.schedule();
  }

  destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.chunks.length = 0;
    this.due.length = 0;
    this.head = 0;
  }
}

export function startLatencyProxy(o: LatencyProxyOptions): Promise<LatencyProxy> {
  const target = hostPort(o.target);
  const listen = hostPort(o.listen ?? '127.0.0.1:0');
  const delayMs = o.delayMs ?? 0.5;
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer({ noDelay: true }, (client) => {
    connections++;
    const upstream = connect({ host: target.host, port: target.port, noDelay: true });
    sockets.add(client);
    sockets.add(upstream);
    const up = new DelayLine(upstream, delayMs);
    const down = new DelayLine(client, delayMs);
    client.on('data', (c: Buffer) => up.push(c));
    upstream.on('data', (c: Buffer) => down.push(c));
    client.on('end', () => up.end());
    upstream.on('end', () => down.end());
    const teardown = () => {
      up.destroy();
      down.destroy();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      resolve({
        port,
        get connections() {
          return connections;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/**
 * The proxy in its own process (the CLI below), for a benchmark that must not pay the proxy's
 * sub-millisecond spinning in its own event loop: resolves with the proxy's port and a stop().
 */
export async function startLatencyProxyProcess(target: string, delayMs: number): Promise<{ port: number; stop(): Promise<void> }> {
  const { startServer } = await import('./spawn.js');
  const running = await startServer({
    command: process.execPath,
    args: ['--import', 'tsx', fileURLToPath(import.meta.url), '--target', target, '--listen', '127.0.0.1:0', '--delay-ms', String(delayMs)],
  });
  return { port: running.port, stop: () => running.stop(5000) };
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('latency-proxy.ts') || entry.endsWith('latency-proxy.js')) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const targetArg = opt('target');
  if (!targetArg) {
    console.error('usage: latency-proxy.ts --target host:port [--listen host:port] [--delay-ms 0.5]');
    process.exit(2);
  }
  const delayMs = Number(opt('delay-ms') ?? 0.5);
  const proxy = await startLatencyProxy({ target: targetArg, listen: opt('listen'), delayMs });
  // The same readiness line as our server, so bench/lib/spawn.ts startServer() can start it.
  console.log(JSON.stringify({ msg: 'listening', port: proxy.port, target: targetArg, delayMs }));
  const stop = () => void proxy.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
