// Runs a real NGINX (the Debian package's binary) through deploy/nginx/run-local.sh, which renders
// deploy/nginx/chat.conf with render.sh — the files an operator uses — under a private temporary prefix
// (pid, logs, temp dirs), listening on free loopback ports. stop() in after().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../helpers/net.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The nginx binary, or undefined when the package is not installed. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  return dirs.map((dir) => join(dir, name)).find((path) => path !== name && existsSync(path));
}

export { freePort };

export interface NginxOptions {
  /** The chat server's port, or several instances' ports (an upstream of all of them). */
  readonly upstreamPort: number | readonly number[];
  readonly wsPath: string;
  /** Also render the TLS server block, with a throwaway self-signed certificate (needs openssl). */
  readonly tls?: boolean;
}

export interface Nginx {
  readonly port: number;
  readonly tlsPort: number | undefined;
  /** The self-signed certificate (PEM) the TLS block serves, to trust in clients. */
  readonly tlsCert: string | undefined;
  /** The rendered deploy/nginx/chat.conf. */
  readonly chatConf: string;
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

export async function startNginx(binary: string, options: NginxOptions): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-nginx-'));
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CHAT_UPSTREAM: [options.upstreamPort].flat().map((port) => `127.0.0.1:${port}`).join(','),
    NGINX_LISTEN: `127.0.0.1:${port}`,
    WS_PATH: options.wsPath,
    SERVER_NAME: 'localhost',
  };
  let tlsCert: string | undefined;
  if (tlsPort !== undefined) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    // PLAIN_HTTP=serve: the tests go through the plain block too (render.sh redirects it to https by default with TLS).
    Object.assign(env, { NGINX_TLS_LISTEN: `127.0.0.1:${tlsPort}`, TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem'), PLAIN_HTTP: 'serve' });
    tlsCert = await readFile(join(dir, 'cert.pem'), 'utf8');
  }
  // deploy/nginx/run-local.sh renders chat.conf into the prefix and execs nginx in the foreground.
  const child = spawn('sh', [join(ROOT, 'deploy/nginx/run-local.sh')], {
    env: { ...env, NGINX_PREFIX: dir, NGINX_BIN: binary },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const errorLog = () => readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit); // never leave an nginx behind, even if the test process dies

  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // fast shutdown: the master stops its workers
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const p of [port, tlsPort]) if (p !== undefined) await waitForListen(p, child, exited);
  } catch (error) {
    const log = await errorLog();
    await stop();
    throw new Error(`nginx did not start: ${(error as Error).message}\n${stderr}\n${log}`);
  }
  const chatConf = await readFile(join(dir, 'chat.conf'), 'utf8');
  return { port, tlsPort, tlsCert, chatConf, errorLog, stop };
}

/** Resolves once `port` accepts a TCP connection (nginx prints nothing when it is ready). */
async function waitForListen(port: number, child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  const deadline = Date.now() + 5000;
  let gone = false;
  void exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`nginx exited with code ${child.exitCode}`);
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (accepted) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`port ${port} not accepting after 5 s`);
}
