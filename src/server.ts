// The composition root: opens the stores, builds the chat domain on them and the live bus, and binds
// the uWS app to it. main.ts calls it with the validated Config (and owns signals and exit codes);
// tests call it with stores of their own. Nothing happens at import time.
import { AccessList } from './auth/access-list.js';
import { PasswordHasher } from './auth/passwords.js';
import { AccessControl, AccessEventTap } from './chat/access-control.js';
import { NoBus, type LiveBus } from './bus/live-bus.js';
import { createChat, type ChatLimits } from './chat/create-chat.js';
import type { Config } from './config.js';
import { silentLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics/registry.js';
import { MemoryUserStore } from './store/memory/memory-users.js';
import { openStores } from './store/open-stores.js';
import { PushService } from './push/push-service.js';
import type { Store } from './store/store.js';
import type { UserStore } from './store/users.js';
import { createApp, uwsIsNative } from './transport/app.js';

export interface ServerDeps {
  /** The message store; opened from DB_URI (with the accounts on the same client) unless given. */
  readonly store?: Store;
  /** Accounts for /api/auth/*; with a given `store`, in memory unless given too. */
  readonly users?: UserStore;
  /** Live delivery between instances; none unless given (main.ts picks it from BUS_URI). */
  readonly bus?: LiveBus;
  readonly log?: Logger;
  readonly metrics?: Metrics;
  /** Password hashing; the default scrypt cost unless given. */
  readonly passwords?: PasswordHasher;
  /** Whether uWS's native binary loaded; detected unless given (tests of the fallback refusal). */
  readonly uwsNative?: boolean;
}

export interface ChatServer {
  readonly port: number;
  /** HEALTH_PORT's actual port (for HTTP/1.0 health checkers), undefined when not configured. */
  readonly healthPort: number | undefined;
  readonly store: Store;
  readonly users: UserStore;
  readonly metrics: Metrics;
  /** /readyz 503, drain, close sockets with 1001, then flush and close the store, bus and accounts. Idempotent. */
  close(): Promise<void>;
  /** WebSocket connections closed with 1001 (going away) while close() ran; 0 before. For the shutdown log line. */
  readonly socketsClosed: number;
  readonly shuttingDown: boolean;
  /** Open WebSocket connections. */
  connectionCount(): number;
}

export function chatLimits(config: Config): ChatLimits {
  const { limits } = config;
  return {
    replayPageSize: limits.replayPageSize,
    replayLiveBuffer: limits.replayLiveBuffer,
    replayRatePerSec: limits.replayRatePerSec,
    replayBurst: limits.replayBurst,
    maxBackpressureBytes: limits.maxBackpressureBytes,
    sendRatePerSec: limits.sendRatePerSec,
    sendBurst: limits.sendBurst,
    deliveredRatePerSec: limits.deliveredRatePerSec,
    deliveredBurst: limits.deliveredBurst,
    deliveredUnknownIdCost: limits.deliveredUnknownIdCost,
    readRatePerSec: limits.readRatePerSec,
    readBurst: limits.readBurst,
    typingRatePerSec: limits.typingRatePerSec,
    typingBurst: limits.typingBurst,
    syncRatePerSec: limits.syncRatePerSec,
    syncBurst: limits.syncBurst,
    typingIntervalMs: limits.typingIntervalMs,
    conversationChangesPerMin: limits.conversationChangesPerMin,
    receiptsMaxMembers: limits.receiptsMaxMembers,
    receiptsGroupIntervalMs: limits.receiptsGroupIntervalMs,
    maxGroupMembers: limits.maxGroupMembers,
    maxMembersPerAdd: limits.maxMembersPerAdd,
    maxGroupsPerUser: limits.maxGroupsPerUser,
    historyPageMax: limits.historyPageMax,
    conversationsPageMax: limits.conversationsPageMax,
    busFallbackPollMs: limits.busFallbackPollMs,
    busLateEventMs: limits.busLateEventMs,
    storeOpTimeoutMs: config.db.opTimeoutMs,
    maxConnections: limits.maxConnections,
  };
}

export async function createServer(config: Config, deps: ServerDeps = {}): Promise<ChatServer> {
  const log = deps.log ?? silentLogger();
  const metrics = deps.metrics ?? createMetrics({ collectDefault: false });
  const uwsNative = deps.uwsNative ?? uwsIsNative();
  if (!uwsNative && !config.uwsAllowFallback) {
    throw new Error('uWebSockets.js native binary did not load (JS fallback in use); refusing to start. Set UWS_ALLOW_FALLBACK=true to run on the fallback anyway.');
  }
  const { store, users } = deps.store ? { store: deps.store, users: deps.users ?? new MemoryUserStore() } : openStores(config, log, metrics);
  const accessList = new AccessList();
  const liveBus = deps.bus ?? new NoBus();
  const access = new AccessControl({ store: store.access, list: accessList, bus: liveBus, log, refreshMs: config.accessRefreshMs });
  // Access events (bans, revocations) are taken off the bus before the chat domain sees it.
  const bus = new AccessEventTap(liveBus, (event) => access.fromBus(event));

  await store.start();
  await users.start();
  try {
    await access.start();
  } catch (error) {
    await Promise.allSettled([store.close(), users.close()]);
    throw error;
  }
  // An iat past every revocation: only a ban refuses it.
  const banned = (userId: string) => accessList.refusal(userId, Number.MAX_SAFE_INTEGER) === 'banned';
  const chat = createChat({ store, bus, metrics, log, limits: chatLimits(config), banned });
  await chat.start();
  // The offline-push webhook (PUSH_WEBHOOK_URL): a sweeper beside the domain, reading the store only.
  const push = config.push ? new PushService({ push: store.push, store, config: config.push, metrics, log, banned }) : undefined;
  let app;
  try {
    await push?.start();
    app = await createApp(config, { chat, store, users, log, metrics, passwords: deps.passwords ?? new PasswordHasher(), access: { list: accessList, control: access } });
  } catch (error) {
    await push?.close();
    // Nothing was accepted (a busy port, say): release what was started, so an in-process caller leaks nothing.
    access.close();
    await Promise.allSettled([chat.close(), store.close(), users.close()]);
    throw error;
  }
  log.info(
    { port: app.port, healthPort: app.healthPort, wsPath: config.wsPath, mode: config.nodeEnv, store: store.kind, bus: bus.kind, uws: uwsNative ? 'native' : 'fallback', reusePort: config.listenReusePort },
    'listening',
  );

  let closing: Promise<void> | undefined;
  let socketsClosed = 0;
  return {
    port: app.port,
    healthPort: app.healthPort,
    store,
    users,
    metrics,
    close: () =>
      (closing ??= (async () => {
        const appClosed = app.close(); // at once: /readyz 503, shuttingDown true
        appClosed.catch(() => {}); // its failure is awaited below, not unhandled meanwhile
        // Read before any socket is closed: app.close() waits at least a macrotask turn before closing them.
        const goingAwayBefore = await goingAwayCloses(metrics);
        await appClosed;
        socketsClosed = (await goingAwayCloses(metrics)) - goingAwayBefore;
        access.close();
        await push?.close(); // before the store: no sweep or attempt is left to use it
        await store.close(); // flushes pending batches (the last confirmations) first
        await chat.close();
        await users.close();
        log.info('server closed');
      })()),
    get shuttingDown() {
      return app.draining;
    },
    get socketsClosed() {
      return socketsClosed;
    },
    connectionCount: () => chat.connectionCount,
  };
}

/** chat_ws_closes_total{reason="going_away"}: closes with 1001, the code shutdown closes every socket with. */
async function goingAwayCloses(metrics: Metrics): Promise<number> {
  const { values } = await metrics.wsCloses.get();
  return values.find((value) => value.labels.reason === 'going_away')?.value ?? 0;
}
