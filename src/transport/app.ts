// createServer: one uWS app serving HTTP and WebSocket from one native event loop. Nothing happens at
// import time; main.ts (or a test) calls this with a validated Config and gets {port, close()}.
import uWS from 'uWebSockets.js';
import { JwtVerifier } from '../auth/jwt.js';
import { PasswordHasher } from '../auth/passwords.js';
import { NoBus, type LiveBus } from '../bus/live-bus.js';
import { ConfirmService } from '../chat/confirm.js';
import { SendRateLimiter } from '../chat/rate-limit.js';
import { ReplayService } from '../chat/replay.js';
import { DeliveryRouter } from '../chat/router.js';
import { SendService } from '../chat/send.js';
import type { Config } from '../config.js';
import { silentLogger, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { MemoryUserStore } from '../store/memory/memory-users.js';
import type { Store } from '../store/store.js';
import type { UserStore } from '../store/users.js';
import { registerAuthRoutes } from './auth-routes.js';
import { CLOSE_GOING_AWAY, type SocketConnection } from './connection.js';
import { CorsPolicy } from './cors.js';
import { loadDemoAssets, registerDemoRoutes } from './demo-routes.js';
import { listen } from './listen.js';
import { registerRoutes } from './routes.js';
import { createWebSocketBehavior } from './websocket.js';

export interface ServerDeps {
  readonly store: Store;
  readonly log?: Logger;
  readonly metrics?: Metrics;
  /** Accounts for /api/auth/*; in memory unless given (main.ts picks it from DB_URI). Started and closed with the server. */
  readonly users?: UserStore;
  /** Password hashing; the default scrypt cost unless given. */
  readonly passwords?: PasswordHasher;
  /** Live delivery between instances; none unless given (main.ts picks it from BUS_URI). Closed with the server. */
  readonly bus?: LiveBus;
  /** Whether uWS's native binary loaded; detected unless given (tests of the fallback refusal). */
  readonly uwsNative?: boolean;
}

export interface ChatServer {
  readonly port: number;
  readonly store: Store;
  readonly users: UserStore;
  readonly metrics: Metrics;
  /** /readyz 503, wait SHUTDOWN_DRAIN_DELAY_MS, stop accepting, close sockets with 1001, flush and close the store. Idempotent. */
  close(): Promise<void>;
  readonly shuttingDown: boolean;
  /** Open WebSocket connections. */
  connectionCount(): number;
}

/** True when the native uWS binary loaded (the package silently falls back to a slow JS version). */
export function uwsIsNative(): boolean {
  return typeof (uWS as unknown as Record<string, unknown>).getParts === 'function';
}

export async function createServer(config: Config, deps: ServerDeps): Promise<ChatServer> {
  const log = deps.log ?? silentLogger();
  const metrics = deps.metrics ?? createMetrics({ collectDefault: false });
  const native = deps.uwsNative ?? uwsIsNative();
  if (!native && !config.uwsAllowFallback) {
    throw new Error('uWebSockets.js native binary did not load (JS fallback in use); refusing to start. Set UWS_ALLOW_FALLBACK=true to run on the fallback anyway.');
  }

  const { store } = deps;
  const users = deps.users ?? new MemoryUserStore();
  await store.start();
  await users.start();
  const demo = config.serveDemo ? await loadDemoAssets(config.wsPath) : undefined;

  // draining: /readyz answers 503 (SHUTDOWN_DRAIN_DELAY_MS before anything else changes);
  // shuttingDown: new connections and sends are refused, then everything closes.
  let draining = false;
  let shuttingDown = false;
  const isShuttingDown = () => shuttingDown;
  const isDraining = () => draining;
  const verifier = new JwtVerifier({ secret: config.jwt.secret, audience: config.jwt.audience, issuer: config.jwt.issuer });
  const cors = new CorsPolicy(config.corsOrigins);
  const bus = deps.bus ?? new NoBus();
  const router = new DeliveryRouter(config.limits.replayLiveBuffer, bus);
  await bus.start((event) => router.fromBus(event));
  const limiter = new SendRateLimiter(config.limits.sendRatePerSec, config.limits.sendBurst, config.limits.maxConnections);
  const sender = new SendService(store, router, limiter, metrics, log);
  const confirmer = new ConfirmService(store, router, metrics, log);
  const replayer = new ReplayService(store, config.limits.replayPageSize, config.limits.maxBackpressureBytes / 2, metrics, 2 * config.db.opTimeoutMs + 1000);

  const app = uWS.App();
  app.ws(config.wsPath, createWebSocketBehavior({ config, verifier, cors, router, sender, confirmer, replayer, metrics, log, isShuttingDown }));
  registerAuthRoutes(app, { config, verifier, cors, users, hasher: deps.passwords ?? new PasswordHasher(), metrics, log, isShuttingDown });
  if (demo) registerDemoRoutes(app, demo, metrics);
  registerRoutes(app, { config, verifier, cors, sender, store, metrics, log, isShuttingDown, isDraining });

  let listenSocket: uWS.us_listen_socket;
  try {
    listenSocket = await listen(app, config.host, config.port, { reusePort: config.listenReusePort });
  } catch (error) {
    // Nothing was accepted: release what was started (a test server in-process must not leak it).
    await Promise.allSettled([bus.close(), store.close(), users.close()]);
    throw error;
  }
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  log.info({ port, wsPath: config.wsPath, mode: config.nodeEnv, store: store.kind, bus: bus.kind, uws: native ? 'native' : 'fallback', reusePort: config.listenReusePort }, 'listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true; // /readyz answers 503 from now on
      if (config.shutdownDrainDelayMs > 0) {
        // Load balancers that poll /readyz take the instance out of rotation while it still serves.
        log.info({ delayMs: config.shutdownDrainDelayMs }, 'draining: /readyz 503, still serving');
        await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainDelayMs));
      }
      shuttingDown = true;
      uWS.us_listen_socket_close(listenSocket);
      // Sends already accepted finish and get their SENT ack on the still-open socket; new ones are
      // refused as unavailable (the client retries the same messageId after reconnecting elsewhere).
      sender.stopAccepting();
      await sender.whenIdle();
      // The last sends' SENT acks (WebSocket) and 201s (HTTP) are written by continuations queued behind
      // whenIdle's: one macrotask turn lets them all run before the sockets are closed below.
      await new Promise((resolve) => setImmediate(resolve));
      for (const connection of [...router.connections()]) (connection as SocketConnection).end(CLOSE_GOING_AWAY, 'going away');
      await store.close(); // flushes pending batches (confirmations) first
      await bus.close();
      await users.close();
      // Drops idle keep-alive HTTP connections so the process can exit (present in this build, missing from its typings).
      (app as unknown as { close(): void }).close();
      log.info('server closed');
    })());

  return {
    port,
    store,
    users,
    metrics,
    close,
    get shuttingDown() {
      return draining;
    },
    connectionCount: () => router.size,
  };
}
