// Runs a real NGINX (the Debian package's binary) as a child process, configured with
// deploy/nginx/chat.conf rendered by deploy/nginx/render.sh — the same files an operator uses — under a
// private temporary prefix (pid, logs, temp dirs), listening on free loopback ports. stop() in after().
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The nginx binary, or undefined when the package is not installed. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  return dirs.map((dir) => join(dir, name)).find((path) => path !== name && existsSync(path));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface NginxOptions {
  readonly upstreamPort: number;
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
  await chmod(dir, 0o755); // run as root, nginx's workers are `nobody`: they must reach the temp dirs
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CHAT_UPSTREAM: `127.0.0.1:${options.upstreamPort}`,
    NGINX_LISTEN: `127.0.0.1:${port}`,
    WS_PATH: options.wsPath,
    SERVER_NAME: 'localhost',
  };
  let tlsCert: string | undefined;
  if (tlsPort !== undefined) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    Object.assign(env, { NGINX_TLS_LISTEN: `127.0.0.1:${tlsPort}`, TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem') });
    tlsCert = await readFile(join(dir, 'cert.pem'), 'utf8');
  }
  const rendered = spawnSync('sh', [join(ROOT, 'deploy/nginx/render.sh')], { env, encoding: 'utf8' });
  if (rendered.status !== 0) throw new Error(`render.sh failed: ${rendered.stderr}`);
  const chatConf = rendered.stdout;
  await writeFile(join(dir, 'chat.conf'), chatConf);
  await writeFile(join(dir, 'nginx.conf'), mainConf(dir));

  const errorLogPath = join(dir, 'error.log');
  const errorLog = () => readFile(errorLogPath, 'utf8').catch(() => '');
  const child = spawn(binary, ['-p', dir, '-e', errorLogPath, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
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
  return { port, tlsPort, tlsCert, chatConf, errorLog, stop };
}

/** The http-level shell around chat.conf: everything private to `dir`, in the foreground. */
function mainConf(dir: string): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${dir}/chat.conf;
}
`;
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
