// HEALTH_PORT: /healthz and /readyz (GET and HEAD) on a second port, parsed by Node's own HTTP server,
// for health checkers that speak HTTP/1.0 (HAProxy's `option httpchk` and Nagios' check_http by
// default). The uWS build we run accepts only `HTTP/1.1` request lines: an HTTP/1.0 request on PORT
// never reaches a handler and waits, unanswered, for uWS's ~10 s HTTP timeout. uWS offers no way to
// see such a request, nor to hand a connection over, so the answer has to come from another listener.
// Node answers HTTP/1.0 and closes the connection after it (no keep-alive asked for).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ALIVE, readiness, type HealthAnswer, type ReadinessDeps } from './health.js';

export interface HealthServer {
  /** The port it listens on (HEALTH_PORT=0 picks a free one). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(host: string, port: number, deps: ReadinessDeps): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      // Node sends no body to a HEAD request; the length is the GET's.
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
      res.end(text);
    };
    const health = (result: HealthAnswer) => answer(result.status, result.body);
    if (path !== '/healthz' && path !== '/readyz') return answer(404, { error: { code: 'not_found', message: 'Not found' } });
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, { error: { code: 'method_not_allowed', message: 'Method not allowed' } }, { allow: 'GET, HEAD' });
    if (path === '/healthz') return health(ALIVE);
    void readiness(deps).then(health);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // idle keep-alive connections would hold the close open
      }),
  };
}
