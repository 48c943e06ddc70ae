// A NATS server of the cluster fault tests' own, on a free port: they kill it, restart it on the same
// port and freeze it (SIGSTOP/SIGCONT), which must never happen to the machine's shared NATS on 4222.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort } from '../helpers/net.js';

const VERSION = 'v2.15.3'; // scripts/nats-server.sh builds this one

/** The binary scripts/nats-server.sh `path` would print, without building one (undefined if none). */
export function findNatsServer(): string | undefined {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  const cache = join(process.env.NATS_SERVER_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'uws-chat-backend'), `nats-server-${VERSION}`);
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin', cache];
  return dirs.map((dir) => join(dir, 'nats-server')).find((path) => existsSync(path));
}

export class OwnNats {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  private constructor(
    private readonly binary: string,
    readonly port: number,
  ) {}

  static async start(binary: string): Promise<OwnNats> {
    const nats = new OwnNats(binary, await freePort());
    await nats.up();
    return nats;
  }

  get uri(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the server on its port and resolves once it accepts connections. */
  async up(): Promise<void> {
    const child = spawn(this.binary, ['-a', '127.0.0.1', '-p', String(this.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) stream.setEncoding('utf8').on('data', (chunk: string) => (this.output = (this.output + chunk).slice(-4000)));
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    void this.exited.then(() => process.off('exit', killOnExit));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nats-server did not start on ${this.port}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills it outright (every client link drops at once). */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    child.kill('SIGCONT'); // a frozen process must be able to die
    child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP: the links stay open, nothing is read or forwarded until thaw(). */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  log(): string {
    return this.output;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
