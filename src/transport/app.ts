// createApp: one uWS app serving HTTP and WebSocket from one native event loop, bound to a built chat
// domain. Nothing happens at import time; the composition root (src/server.ts) builds the stores and
// the domain, and hands them here.
import uWS from 'uWebSockets.js';
import type { AccessList } from '../auth/access-list.js';
import { JwtVerifier } from '../auth/jwt.js';
import { PasswordHasher } from '../auth/passwords.js';
import { ServerKey } from '../auth/server-key.js';
import type { AccessControl } from '../chat/access-control.js';
import type { Chat } from '../chat/create-chat.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { Store } from '../store/store.js';
import type { UserStore } from '../store/users.js';
import { registerAuthRoutes } from './auth-routes.js';
import { CLOSE_GOING_AWAY, type SocketConnection } from './connection.js';
import { CorsPolicy } from './cors.js';
import { loadDemoAssets, registerDemoRoutes } from './demo-routes.js';
import { answerBadFraming, guardFraming } from './framing.js';
import { startHealthServer, type HealthServer } from './health-port.js';
import { countingExchanges } from './http.js';
import { listen } from './listen.js';
import { ApiReadLimit } from './api-read-limit.js';
import { registerConversationRoutes } from './conversation-routes.js';
import { registerRoutes } from './routes.js';
import { RouteTable } from './route-table.js';
import { registerServerApiRoutes } from './server-api-routes.js';
import { createWebSocketBehavior } from './websocket.js';

export interface AppDeps {
  readonly chat: Chat;
  /** Readiness pings it. */
  readonly store: Store;
  readonly users: UserStore;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly passwords: PasswordHasher;
  /** Bans and revocations: the view every token check reads, and the control that writes them. */
  readonly access: { readonly list: AccessList; readonly control: AccessControl };
}

export interface App {
  readonly port: number;
  /** HEALTH_PORT's actual port (for HTTP/1.0 health checkers), undefined when not configured. */
  readonly healthPort: number | undefined;
  /** From the signal on: /readyz answers 503. */
  readonly draining: boolean;
  /**
   * /readyz 503, wait SHUTDOWN_DRAIN_DELAY_MS, stop accepting, let accepted sends be acked, close the
   * sockets with 1001, drop idle HTTP connections. Idempotent. The stores are the caller's to close.
   */
  close(): Promise<void>;
}

/** True when the native uWS binary loaded (the package silently falls back to a slow JS version). */
export function uwsIsNative(): boolean {
  return typeof (uWS as unknown as Record<string, unknown>).getParts === 'function';
}

export async function createApp(config: Config, deps: AppDeps): Promise<App> {
  const { chat, log, metrics } = deps;
  const demo = config.serveDemo ? await loadDemoAssets(config.wsPath) : undefined;

  // draining: /readyz answers 503 (SHUTDOWN_DRAIN_DELAY_MS before anything else changes);
  // shuttingDown: new connections and sends are refused, then everything closes.
  let draining = false;
  let shuttingDown = false;
  const isShuttingDown = () => shuttingDown;
  const isDraining = () => draining;
  const verifier = new JwtVerifier({ secret: config.jwt.secret, audience: config.jwt.audience, issuer: config.jwt.issuer, access: deps.access.list });
  const cors = new CorsPolicy(config.corsOrigins);

  const app = uWS.App();
  // Every route is registered through `routes`, behind the request-framing check (400 and close), and
  // recorded with its method (a known path with another method: 405, not 404).
  const routeTable = new RouteTable();
  const routes = routeTable.record(guardFraming(app, answerBadFraming(countingExchanges(metrics))));
  routes.ws(config.wsPath, createWebSocketBehavior({ config, verifier, cors, chat, metrics, log, isShuttingDown, access: deps.access.list }));
  const readLimit = new ApiReadLimit(config.limits, metrics);
  registerAuthRoutes(routes, { config, verifier, cors, users: deps.users, hasher: deps.passwords, metrics, log, isShuttingDown, access: deps.access.control, readLimit });
  if (demo) registerDemoRoutes(routes, demo, metrics);
  registerConversationRoutes(routes, { config, verifier, cors, chat, log, isShuttingDown, readLimit }, countingExchanges(metrics));
  if (config.serverApi.key !== undefined) {
    const key = new ServerKey(config.serverApi.key);
    registerServerApiRoutes(routes, { config, key, chat, store: deps.store, access: deps.access.control, log, isShuttingDown }, countingExchanges(metrics));
  }
  registerRoutes(routes, { config, verifier, cors, sender: chat, store: deps.store, metrics, log, isShuttingDown, isDraining, routeTable });

  // A busy port (and no LISTEN_REUSE_PORT) rejects: the composition root releases what it started.
  const listenSocket = await listen(app, config.host, config.port, { reusePort: config.listenReusePort });
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  let health: HealthServer | undefined;
  try {
    if (config.healthPort !== undefined) health = await startHealthServer(config.host, config.healthPort, { store: deps.store, isDraining });
  } catch (error) {
    uWS.us_listen_socket_close(listenSocket);
    throw error;
  }

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
      await chat.drainSends();
      // The last sends' SENT acks (WebSocket) and 201s (HTTP) are written by continuations queued behind
      // drainSends': one macrotask turn lets them all run before the sockets are closed below.
      await new Promise((resolve) => setImmediate(resolve));
      for (const connection of [...chat.connections()]) (connection as SocketConnection).end(CLOSE_GOING_AWAY, 'going away');
      await health?.close(); // answered /readyz 503 until now
      // Drops idle keep-alive HTTP connections so the process can exit (present in this build, missing from its typings).
      (app as unknown as { close(): void }).close();
    })());

  return {
    port,
    healthPort: health?.port,
    get draining() {
      return draining;
    },
    close,
  };
}
