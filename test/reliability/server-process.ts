// The real server process for the fault tests: one fixed port (clients reconnect to the same URL),
// killed and restarted at will on the same DB_URI, its output kept for failure reports.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { signToken } from '../../src/auth/jwt.js';
import { mongoUriFor } from '../helpers/mongo.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { TEST_SECRET } from '../helpers/server.js';
import { skipReason } from '../helpers/skips.js';

const run = promisify(execFile);
import { freePort } from '../helpers/net.js';

export { freePort };

const SCRIPT = fileURLToPath(new URL('../../scripts/mongo-test-server.sh', import.meta.url));

/** The Mongo base URI for the fault tests, or why they cannot run (REQUIRE_MONGO=1 makes that a failure). */
export function faultMongoUri(): { uri: string; skip: false } | { uri: undefined; skip: string } {
  const uri = process.env.TEST_MONGO_URI;
  if (uri) return { uri, skip: false };
  if (process.env.REQUIRE_MONGO === '1') throw new Error('REQUIRE_MONGO=1 but TEST_MONGO_URI is not set: the fault tests would be skipped');
  return { uri: undefined, skip: skipReason('mongo') };
}

export function freshDbUri(baseUri: string, prefix: string): { dbName: string; dbUri: string } {
  const dbName = `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  return { dbName, dbUri: mongoUriFor(baseUri, dbName) };
}

export async function signTokens(userIds: readonly string[]): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const userId of userIds) tokens.set(userId, await signToken({ secret: TEST_SECRET, userId, ttlSec: 3600 }));
  return tokens;
}

/**
 * A FerretDB of the fault tests' own (never the shared one on 27017), started and stopped through
 * scripts/mongo-test-server.sh: the store-outage test stops it under load. Its port is free at start
 * (or OUTAGE_MONGO_PORT), so that two test runs on one machine do not stop each other's server.
 */
export class OwnFerretDb {
  private constructor(readonly port: string) {}

  static async create(): Promise<OwnFerretDb> {
    return new OwnFerretDb(process.env.OUTAGE_MONGO_PORT ?? String(await freePort()));
  }

  private get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      MONGO_TEST_PORT: this.port,
      FERRETDB_PG_DATABASE: process.env.OUTAGE_PG_DATABASE ?? 'ferretdb_outage',
      // A small pool: PostgreSQL's 100 connections are shared with the FerretDB on 27017 (and others').
      FERRETDB_PG_POOL: '12',
      FERRETDB_LOG_LEVEL: 'warn',
    };
  }

  get uri(): string {
    return `mongodb://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<void> {
    await run('bash', [SCRIPT, 'start'], { env: this.env });
  }

  async stop(): Promise<void> {
    await run('bash', [SCRIPT, 'stop'], { env: this.env });
  }
}

export class RestartableServer {
  private current: ServerProcess | undefined;
  starts = 0;
  /** Output of every run so far, for a failure report. */
  private readonly logs: string[] = [];

  constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  static async create(dbUri: string, env: Record<string, string> = {}): Promise<RestartableServer> {
    return new RestartableServer(await freePort(), {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_SECRET,
      DB_URI: dbUri,
      SEND_RATE_PER_SEC: '1000000',
      SEND_BURST: '1000000',
      // The load's drain (load-client.ts drainRecipients) syncs every 300 ms per recipient until two
      // replays come back empty: faster than SYNC_RATE_PER_SEC's default, which has its own test.
      SYNC_RATE_PER_SEC: '1000',
      SYNC_BURST: '1000',
      // Flaky recipients reconnect in loops, faster than CONNECT_RATE_PER_SEC's default (its own test).
      CONNECT_RATE_PER_SEC: '1000',
      CONNECT_BURST: '1000',
      METRICS_MODE: 'open',
      LOG_LEVEL: 'info',
      // The production batch size unless FAULT_DB_BATCH_MAX_OPS says otherwise. (FerretDB v1 deadlocks
      // on an update command whose matched updateOnes outnumber its pool; the store uses none since
      // 1b7e6a3 — docs/reliability.md, "FerretDB findings".)
      ...(process.env.FAULT_DB_BATCH_MAX_OPS ? { DB_BATCH_MAX_OPS: process.env.FAULT_DB_BATCH_MAX_OPS } : {}),
      ...env,
    });
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get process(): ServerProcess | undefined {
    return this.current;
  }

  async start(): Promise<void> {
    // FAULT_SERVER_PRELOAD: modules (comma-separated paths) imported into the server before main.ts, for
    // a diagnosis of a reliability run from inside the server (a CPU profile, the store's commands).
    const preload = process.env.FAULT_SERVER_PRELOAD?.split(',').filter(Boolean);
    const server = spawnServer({ ...this.env, PORT: String(this.port) }, { preload });
    this.current = server;
    this.starts++;
    server.exited.then(({ stdout, stderr, code, signal }) => this.logs.push(`--- run ${this.starts} (exit ${code ?? signal})\n${stderr}\n${stdout.split('\n').slice(-30).join('\n')}`));
    // A store that never answers keeps the server retrying (and not listening) forever: fail instead.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      server.listening.finally(() => clearTimeout(timer)),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`server not listening after 60 s\n${this.output()}`)), 60_000))),
    ]);
  }

  /** Sends `signal` and resolves the exit. */
  async stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const server = this.current;
    if (!server) return { code: null, signal: null };
    server.kill(signal);
    const exit = await server.exited;
    this.current = undefined;
    return { code: exit.code, signal: exit.signal };
  }

  /** The tail of every run's output. */
  output(): string {
    const running = this.current ? `--- run ${this.starts} (running)\n${this.current.stderr()}\n${this.current.stdout().split('\n').slice(-30).join('\n')}` : '';
    return [...this.logs, running].join('\n').slice(-8000);
  }
}
