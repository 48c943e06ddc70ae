// Binding the port. uWS listens with SO_REUSEPORT unless told otherwise, so a second server on a busy
// port starts without a word and the kernel splits connections between the two (messages then "vanish"
// into the other process). By default the port is taken exclusively and a busy one is refused;
// LISTEN_REUSE_PORT=true shares it on purpose (several processes on one store and bus).
// A restart is not refused: a stopped server's closing connections (TIME_WAIT) do not hold the port,
// since uWS sets SO_REUSEADDR on a fixed port. It sets none on port 0, so the port a server got from
// port 0 stays taken until its connections are gone: a test that restarts in-process picks a port.
import { createServer as createProbe } from 'node:net';
import uWS from 'uWebSockets.js';

/** Thrown when another process holds the port; main.ts prints the message as is (operators grep it). */
export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`Port ${port} is already in use`);
    this.name = 'PortInUseError';
  }
}

/** uWS's ListenOptions: typed as an enum the binary does not export; it exports EXCLUSIVE_PORT (1) alone. */
const LISTEN_DEFAULT = 0;
const LISTEN_EXCLUSIVE_PORT = (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1;

/** Listens on host:port (0: any free port); rejects with PortInUseError when the port is taken. */
export async function listen(app: uWS.TemplatedApp, host: string, port: number, options: { reusePort: boolean }): Promise<uWS.us_listen_socket> {
  const flags = options.reusePort ? LISTEN_DEFAULT : LISTEN_EXCLUSIVE_PORT;
  // listen(host, port, options, cb) exists in the native binary but is missing from its typings.
  const withOptions = app as unknown as { listen(host: string, port: number, options: number, cb: (socket: uWS.us_listen_socket | false) => void): void };
  const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => withOptions.listen(host, port, flags, resolve));
  if (socket) return socket;
  throw await whyNotListening(host, port);
}

/**
 * uWS only says "false". Node's own bind on the same address names the reason; EADDRINUSE is the one
 * that matters (a stale process, a second `npm start`), the rest (EACCES, EADDRNOTAVAIL) keep their code.
 */
async function whyNotListening(host: string, port: number): Promise<Error> {
  const probe = createProbe();
  const code = await new Promise<string | undefined>((resolve) => {
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
  if (code === 'EADDRINUSE') return new PortInUseError(port);
  return new Error(`could not listen on ${host}:${port}${code ? ` (${code})` : ''}`);
}
