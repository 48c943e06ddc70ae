// Boots the real server on port 0 for a test and hands out tokens; close it in after().
import { signToken } from '../../src/auth/jwt.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { Store } from '../../src/store/store.js';
import { createServer, type ChatServer } from '../../src/server.js';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-prod';

export interface TestServer {
  readonly server: ChatServer;
  readonly config: Config;
  readonly store: Store;
  readonly httpUrl: string;
  readonly wsUrl: string;
  token(userId: string, options?: { ttlSec?: number; role?: 'admin'; secret?: string }): Promise<string>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Environment overrides (strings, as the process would see them). */
  readonly env?: Record<string, string>;
  readonly store?: Store;
  readonly log?: Logger;
  /** Pretend uWS's native binary did (not) load: the fallback refusal's test. */
  readonly uwsNative?: boolean;
}

/**
 * The environment a test server runs with: generous rate limits unless a test sets its own, and no demo
 * page (it is read from the build, dist/demo/; the tests that need it build it and set SERVE_DEMO=true).
 */
export function testEnv(env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    JWT_SECRET: TEST_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    SEND_RATE_PER_SEC: '100000',
    SEND_BURST: '100000',
    // The fuzzer and the load tests confirm thousands of ids a second; the limit has its own tests.
    DELIVERED_RATE_PER_SEC: '1000000',
    DELIVERED_BURST: '1000000',
    // Tests page through history and lists freely; the API read limit has its own test.
    API_READ_RATE_PER_SEC: '1000000',
    API_READ_BURST: '1000000',
    // Tests reconnect one user many times a second; the connect limit has its own test.
    CONNECT_RATE_PER_SEC: '1000000',
    CONNECT_BURST: '1000000',
    // Tests replay thousands of messages to one user again and again; the replay budget has its own test.
    REPLAY_RATE_PER_SEC: '10000000',
    REPLAY_BURST: '10000000',
    // The frame fuzzer sends thousands of malformed frames on one socket; the budget has its own test.
    INVALID_FRAMES_PER_SEC: '1000000',
    INVALID_FRAMES_BURST: '1000000',
    SERVE_DEMO: 'false',
    ...env,
  };
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { config } = loadConfig(testEnv(options.env));
  const store = options.store ?? new MemoryStore();
  const log = options.log ?? (process.env.TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger());
  const server = await createServer(config, { store, log, metrics: createMetrics({ collectDefault: false }), ...(options.uwsNative !== undefined ? { uwsNative: options.uwsNative } : {}) });
  const base = `127.0.0.1:${server.port}`;
  return {
    server,
    config,
    store,
    httpUrl: `http://${base}`,
    wsUrl: `ws://${base}${config.wsPath}`,
    token: (userId, tokenOptions = {}) =>
      signToken({
        secret: tokenOptions.secret ?? config.jwt.secret,
        userId,
        ttlSec: tokenOptions.ttlSec ?? 3600,
        ...(tokenOptions.role ? { role: tokenOptions.role } : {}),
      }),
    close: () => server.close(),
  };
}
