// The only module that reads process.env. It validates every variable once, reports every bad one
// (the exact lines operators grep for), and returns a frozen, typed Config.
import type { ProxyTrust } from './transport/proxy-trust.js';
import { customCleanEnv, EnvError, EnvMissingError } from 'envalid';
import { ENV_SPECS } from './config-specs.js';

export type MetricsMode = 'secret' | 'open' | 'off';

export interface Config {
  readonly nodeEnv: string;
  readonly isProduction: boolean;
  readonly host: string;
  readonly port: number;
  /** A second port answering /healthz and /readyz to any HTTP version (uWS never parses HTTP/1.0); undefined: none. */
  readonly healthPort: number | undefined;
  /** Share the port with other processes (SO_REUSEPORT); by default a busy port is refused. */
  readonly listenReusePort: boolean;
  readonly wsPath: string;
  readonly jwt: {
    readonly secret: string;
    readonly audience: string | undefined;
    readonly issuer: string | undefined;
    readonly ttlSec: number;
    /** JWT_SESSION_MAX: refresh renews a session at most this long after it began (its login, else the first token's iat). */
    readonly sessionMaxSec: number;
  };
  readonly db: { readonly uri: string; readonly kind: 'memory' | 'mongo'; readonly opTimeoutMs: number };
  /** The live bus between instances (NATS); undefined: one instance, no bus. */
  /** `namespace` (BUS_NAMESPACE): the subjects' prefix token; undefined: derived from JWT_SECRET (src/bus/create-bus.ts). */
  readonly bus: { readonly uri: string | undefined; readonly namespace: string | undefined; readonly watchTimeoutMs: number };
  /** Store write batches; one user's items per batch are capped so that their backlog only delays them. */
  readonly batch: { readonly maxWaitMs: number; readonly maxOps: number; readonly maxOpsPerUser: number };
  readonly cursorCacheMax: number;
  /** Devices kept per user (store): past it the ones seen longest ago are forgotten. */
  readonly maxDevicesPerUser: number;
  readonly cookie: { readonly name: string; readonly domain: string | undefined };
  /** `'*'` accepts any Origin (development default). */
  readonly corsOrigins: readonly string[] | '*';
  readonly limits: {
    readonly maxMessageBytes: number;
    readonly maxPayloadBytes: number;
    readonly maxHttpBodyBytes: number;
    readonly httpBodyTimeoutMs: number;
    /** A request body that sends nothing for this long gets 408 (under uWS's idle close). */
    readonly httpBodyStallMs: number;
    readonly maxBackpressureBytes: number;
    readonly idleTimeoutSec: number;
    readonly maxDeliveredIds: number;
    /** The largest `?ackDelayMs=` a client may ask for (v1.3); 0 turns held acks off. */
    readonly ackDelayMaxMs: number;
    readonly replayPageSize: number;
    readonly replayLiveBuffer: number;
    /** Messages per second per user that replays send past replayBurst (the replay waits; nothing is dropped). */
    readonly replayRatePerSec: number;
    readonly replayBurst: number;
    readonly maxConnections: number;
    readonly maxConnectionsPerIp: number;
    /** Open WebSockets of one user in this process: each message to the user is written once per connection. */
    readonly maxConnectionsPerUser: number;
    /** Upgrades per user (each replays what is pending, like `sync`): rate per second and burst. */
    readonly connectRatePerSec: number;
    readonly connectBurst: number;
    /** Frames that fail to parse, per connection: answered with their error while this lasts, then `rate_limited`. */
    readonly invalidFramesPerSec: number;
    readonly invalidFramesBurst: number;
    readonly sendRatePerSec: number;
    readonly sendBurst: number;
    /** Confirmed ids per second per user (token bucket), and its burst. */
    readonly deliveredRatePerSec: number;
    readonly deliveredBurst: number;
    readonly deliveredUnknownIdCost: number;
    /** `read` frames per second per user, and burst. */
    readonly readRatePerSec: number;
    readonly readBurst: number;
    /** `typing` frames per second per user, and burst (each relayed at most once per typingIntervalMs per conversation). */
    readonly typingRatePerSec: number;
    readonly typingBurst: number;
    /** `sync` frames per user: each runs a replay, which reads the store. */
    readonly syncRatePerSec: number;
    readonly syncBurst: number;
    readonly typingIntervalMs: number;
    /** Group creations, member changes and title changes per user per minute. */
    readonly conversationChangesPerMin: number;
    readonly maxGroupMembers: number;
    readonly maxMembersPerAdd: number;
    /** Groups one user may be in: creating or adding past it is refused (413). */
    readonly maxGroupsPerUser: number;
    /** Groups above this size send receipts to the member's own devices only, and relay no typing. */
    readonly receiptsMaxMembers: number;
    /** Group receipts to the other members are coalesced over this window (0: every turn). */
    readonly receiptsGroupIntervalMs: number;
    readonly historyPageMax: number;
    /** A history or list page's JSON at most (API_PAGE_MAX_BYTES): fewer items past it, and the page says there is more. */
    readonly apiPageMaxBytes: number;
    /** GET and HEAD on the API per user (API_READ_*): 1 token a request, 1 more per `apiReadBytesPerToken` answered. */
    readonly apiReadRatePerSec: number;
    readonly apiReadBurst: number;
    readonly apiReadBytesPerToken: number;
    readonly conversationsPageMax: number;
    readonly maxTitleChars: number;
    /** While the bus is down, connected devices are caught up from the store this often (0: never). */
    readonly busFallbackPollMs: number;
    /** Bus message events older than this are checked against the device's cursor before delivery. */
    readonly busLateEventMs: number;
    /** A connection answered rate_limited this many times within RATE_LIMITED_WINDOW_MS is closed (1008). */
    readonly rateLimitedCloseAfter: number;
    /** After such a close, the user's new connections are refused (429) for this long. */
    readonly rateLimitedCooldownSec: number;
  };
  /** TRUST_PROXY: whose X-Forwarded-For is believed (src/transport/proxy-trust.ts). */
  readonly trustProxy: ProxyTrust;
  readonly metrics: {
    readonly mode: MetricsMode;
    readonly secret: string | undefined;
    readonly enableAdminRoute: boolean;
    /** Wrong x-metrics-key attempts allowed per client address per minute (burst the same); then 429. */
    readonly authFailuresPerMin: number;
  };
  readonly log: { readonly level: string; readonly pretty: boolean; readonly repeatMs: number };
  readonly shutdownGraceMs: number;
  /** On a signal, keep serving this long with /readyz answering 503 (load balancers that poll it). */
  readonly shutdownDrainDelayMs: number;
  readonly uwsAllowFallback: boolean;
  readonly serveDemo: boolean;
  readonly allowSignup: boolean;
  /** Login and signup attempts per minute (token buckets with this burst), per client address and per username. */
  /**
   * Login throttling: per client address, per username, and `knownDeviceTtlSec` (0: off), how long a
   * device that logged in stays out of the username's bucket (src/auth/known-device.ts).
   */
  readonly authRate: { readonly perIpPerMin: number; readonly perUserPerMin: number; readonly knownDeviceTtlSec: number };
  /** The server API (/api/server/*) for backends and bots; undefined key: the routes answer 404. */
  readonly serverApi: {
    readonly key: string | undefined;
    /** Wrong keys per client address per minute before that address is refused (429) for a while. */
    readonly authFailuresPerMin: number;
  };
  /** Bans and revocations written on other instances are read from the store this often (ms; 0: never). */
  readonly accessRefreshMs: number;
  /** The offline-push webhook; undefined (off) unless PUSH_WEBHOOK_URL is set. */
  readonly push: PushConfig | undefined;
}

/** The offline-push webhook (src/push/, docs/protocol.md "Offline push webhook"). Times in ms. */
export interface PushConfig {
  readonly webhookUrl: string;
  /** Signs every POST (X-Chat-Signature); never logged. */
  readonly secret: string;
  /** A message undelivered to a recipient this long after it was stored is pushed. */
  readonly afterMs: number;
  /** Retries stop (dropped, reason expired) this long after the message was stored. */
  readonly maxAgeMs: number;
  /** At most one push per (recipient, conversation) in this window. */
  readonly coalesceMs: number;
  /** The payload's preview: the body cut to this many characters; 0 sends none (null). */
  readonly previewChars: number;
  /** Notifications held in this process's work queue (claimed, waiting for a POST). */
  readonly queueMax: number;
  readonly sweepMs: number;
  readonly timeoutMs: number;
  /** How long a claim holds a notification before another instance may take it over. */
  readonly leaseMs: number;
  readonly concurrency: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

/** Every problem found in the environment, one line each, in the order they must be printed. */
export class ConfigError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'ConfigError';
  }
}

/**
 * COOKIE_DOMAIN's spelling for "no Domain attribute": production requires the variable, and empty
 * counts as missing there, so a host-only cookie (sent back to this host alone) needs a word, in any
 * case as domains are. No browser takes a single-label `Domain=host-only` from another host, so the
 * word names no real domain.
 */
export const COOKIE_HOST_ONLY = 'host-only';

export const JWT_SECRET_ERROR = 'JWT_SECRET is required and must be a non-empty string.';
const PRODUCTION_REQUIRED = ['NODE_ENV', 'PORT', 'JWT_SECRET', 'DB_URI', 'COOKIE_DOMAIN', 'CORS_ORIGIN', 'WS_PATH'] as const;
const WEAK_SECRET_BYTES = 32;
const WEAK_METRICS_SECRET_CHARS = 16;
const SERVER_API_KEY_MIN_CHARS = 32;

export interface LoadedConfig {
  readonly config: Config;
  /** Things worth a log line at start (never containing a secret's value). */
  readonly warnings: readonly string[];
}

/**
 * Validates `env` (process.env by default). Throws ConfigError with every line to print; the
 * JWT_SECRET rule comes last so production prints its missing-variable line first.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  // Empty means missing: `FOO= npm start` must not slip an empty secret through.
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') raw[key] = value;
  const isProduction = raw.NODE_ENV === 'production';
  raw.NODE_ENV ??= 'development'; // envalid applies devDefault only when NODE_ENV is set

  const lines: string[] = [];
  if (isProduction) {
    for (const name of PRODUCTION_REQUIRED) {
      if (raw[name] === undefined) lines.push(`Missing required environment variable for production: ${name}`);
    }
  }

  // The reporter collects every problem instead of exiting. No strict proxy (envalid's default
  // middleware throws when a variable that failed is read): a variable that failed reads as undefined
  // below, the cross-variable rules guard for it, and a ConfigError is thrown before the Config is built.
  const e = customCleanEnv(raw, ENV_SPECS, (cleaned) => cleaned, {
    reporter: ({ errors }) => {
      for (const [name, error] of Object.entries(errors)) {
        if (name === 'JWT_SECRET') continue; // reported below, with its own sentence
        if (error instanceof EnvMissingError) {
          const line = isProduction
            ? `Missing required environment variable for production: ${name}`
            : `Missing required environment variable: ${name}`;
          if (!lines.includes(line)) lines.push(line);
        } else if (error instanceof EnvError || error instanceof Error) {
          lines.push(`Invalid environment variable ${name}: ${error.message}`);
        }
      }
    },
  });

  const metricsMode = (e.METRICS_MODE ?? (isProduction ? 'secret' : 'open')) as MetricsMode;
  if (isProduction && metricsMode === 'secret' && !e.METRICS_SECRET) {
    lines.push('Missing required environment variable for production: METRICS_SECRET');
  }
  if (isProduction && metricsMode === 'open' && !e.ALLOW_PUBLIC_METRICS_IN_PROD) {
    lines.push('METRICS_MODE=open is refused in production: it publishes metrics to anyone; set ALLOW_PUBLIC_METRICS_IN_PROD=true to allow it, or use METRICS_MODE=secret with METRICS_SECRET.');
  }
  if (!isProduction && metricsMode === 'secret' && !e.METRICS_SECRET) {
    lines.push('Missing required environment variable: METRICS_SECRET (METRICS_MODE=secret needs it)');
  }
  if (e.DB_URI !== undefined && e.DB_URI.startsWith('mongodb') && !dbNameOk(e.DB_URI)) {
    lines.push('Invalid environment variable DB_URI: the database name in the URI path must be 1-63 characters of [A-Za-z0-9_-]');
  }
  if (e.SHUTDOWN_DRAIN_DELAY_MS !== undefined && e.SHUTDOWN_GRACE_MS !== undefined && e.SHUTDOWN_DRAIN_DELAY_MS > 0 && e.SHUTDOWN_DRAIN_DELAY_MS >= e.SHUTDOWN_GRACE_MS) {
    lines.push('Invalid environment variable SHUTDOWN_DRAIN_DELAY_MS: must be shorter than SHUTDOWN_GRACE_MS, which counts from the signal and includes it');
  }
  // A login's token would outlive its session: refresh caps exp at the session's end, a login did not.
  // Unset, JWT_TTL is its default or JWT_SESSION_MAX, whichever is shorter; set, it must fit.
  const ttlSet = raw.JWT_TTL !== undefined && raw.JWT_TTL !== '';
  if (ttlSet && e.JWT_TTL !== undefined && e.JWT_SESSION_MAX !== undefined && e.JWT_TTL > e.JWT_SESSION_MAX) {
    lines.push(`Invalid environment variable JWT_TTL: must not be longer than JWT_SESSION_MAX (a token lives at most as long as its session); JWT_TTL is ${e.JWT_TTL} s, JWT_SESSION_MAX ${e.JWT_SESSION_MAX} s: lower JWT_TTL or raise JWT_SESSION_MAX`);
  }
  if (e.HEALTH_PORT !== undefined && e.HEALTH_PORT !== 0 && e.HEALTH_PORT === e.PORT) {
    lines.push('Invalid environment variable HEALTH_PORT: must differ from PORT');
  }
  // Characters, like METRICS_SECRET; the value itself is never echoed.
  if (isProduction && e.SERVER_API_KEY !== undefined && [...e.SERVER_API_KEY].length < SERVER_API_KEY_MIN_CHARS) {
    lines.push(`Invalid environment variable SERVER_API_KEY: must be at least ${SERVER_API_KEY_MIN_CHARS} characters in production (it acts as any user); use e.g. \`openssl rand -hex 32\``);
  }
  lines.push(...pushProblems(e, isProduction));
  // A secret of spaces is set, and as guessable as none (a stray `JWT_SECRET=" "` in an env file).
  for (const name of ['JWT_SECRET', 'METRICS_SECRET', 'SERVER_API_KEY', 'PUSH_WEBHOOK_SECRET'] as const) {
    if (raw[name] !== undefined && raw[name].trim() === '') lines.push(`Invalid environment variable ${name}: must not be blank (only whitespace)`);
  }
  if (!raw.JWT_SECRET) lines.push(`Error: ${JWT_SECRET_ERROR}`);
  if (lines.length > 0) throw new ConfigError(lines);

  const warnings: string[] = [];
  if (isProduction && Buffer.byteLength(e.JWT_SECRET, 'utf8') < WEAK_SECRET_BYTES) {
    warnings.push(`JWT_SECRET is shorter than ${WEAK_SECRET_BYTES} bytes: tokens signed with it can be brute-forced; use a long random secret`);
  }
  // Characters, not bytes: 8 two-byte characters are 16 bytes and still few enough to guess.
  if (isProduction && e.METRICS_SECRET && [...e.METRICS_SECRET].length < WEAK_METRICS_SECRET_CHARS) {
    warnings.push(
      `METRICS_SECRET is shorter than ${WEAK_METRICS_SECRET_CHARS} characters: anyone who reaches /metrics can guess it (a 1-character key fell to 89 requests); ` +
        'METRICS_AUTH_FAILURES_PER_MIN only slows the guessing. Use a long random key, e.g. `openssl rand -hex 16`.',
    );
  }
  // A warning, not a refusal: the production checks and tests start production servers on port 0.
  if (isProduction && e.PORT === 0) {
    warnings.push('PORT=0 in production: the server listens on a random port (the "listening" line names it); NGINX, PM2 and health checks need a fixed one');
  }
  if (isProduction && e.DB_URI === 'mem') {
    warnings.push('DB_URI=mem in production: messages live in this process only, are lost on restart, and memory grows with every message; use a mongodb:// URI');
  }
  if (e.DB_URI === 'mem' && e.LISTEN_REUSE_PORT) {
    warnings.push('LISTEN_REUSE_PORT=true with DB_URI=mem: processes sharing the port keep separate in-memory stores, and the kernel splits clients between them');
  }
  if (e.DB_URI === 'mem' && e.BUS_URI !== undefined) {
    warnings.push('BUS_URI with DB_URI=mem: instances do not share a store, so a message sent through one cannot be replayed or confirmed through another');
  }

  const dbUri = e.DB_URI;
  const config: Config = {
    nodeEnv: e.NODE_ENV,
    isProduction,
    host: e.HOST,
    port: e.PORT,
    healthPort: e.HEALTH_PORT,
    listenReusePort: e.LISTEN_REUSE_PORT,
    wsPath: e.WS_PATH,
    jwt: { secret: e.JWT_SECRET, audience: e.JWT_AUDIENCE, issuer: e.JWT_ISSUER, ttlSec: Math.min(e.JWT_TTL, e.JWT_SESSION_MAX), sessionMaxSec: e.JWT_SESSION_MAX },
    db: { uri: dbUri, kind: dbUri === 'mem' ? 'memory' : 'mongo', opTimeoutMs: e.DB_OP_TIMEOUT_MS },
    bus: { uri: e.BUS_URI, namespace: e.BUS_NAMESPACE, watchTimeoutMs: e.BUS_WATCH_TIMEOUT_MS },
    batch: { maxWaitMs: e.DB_BATCH_MAX_WAIT_MS, maxOps: e.DB_BATCH_MAX_OPS, maxOpsPerUser: Math.min(e.DB_BATCH_MAX_OPS_PER_USER, e.DB_BATCH_MAX_OPS) },
    cursorCacheMax: e.CURSOR_CACHE_MAX,
    maxDevicesPerUser: e.MAX_DEVICES_PER_USER,
    cookie: { name: e.AUTH_COOKIE_NAME, domain: e.COOKIE_DOMAIN?.toLowerCase() === COOKIE_HOST_ONLY ? undefined : e.COOKIE_DOMAIN },
    corsOrigins: e.CORS_ORIGIN ?? '*',
    limits: {
      maxMessageBytes: e.MAX_MESSAGE_BYTES,
      // Default: room for the largest send and for a `delivered` frame with MAX_DELIVERED_IDS ids of the
      // longest length (an eventId, `delete.` + 64 characters, quoted, comma-separated). A send's body may
      // come JSON-escaped, up to 6 bytes per byte (`\u0001`, or any character written as `\uXXXX`): a
      // body within MAX_MESSAGE_BYTES must not be refused for how it was written (until 2026-12-07 the
      // room was 2x, and 12,300 control characters closed the socket with 1009), nor its ids (4096).
      maxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES ?? Math.max(escapedSendBytes(e.MAX_MESSAGE_BYTES), e.MAX_DELIVERED_IDS * 74 + 1024),
      maxHttpBodyBytes: e.MAX_HTTP_BODY_BYTES ?? escapedSendBytes(e.MAX_MESSAGE_BYTES),
      httpBodyTimeoutMs: e.HTTP_BODY_TIMEOUT_MS,
      httpBodyStallMs: e.HTTP_BODY_STALL_MS,
      maxBackpressureBytes: e.WS_MAX_BACKPRESSURE_BYTES,
      idleTimeoutSec: e.WS_IDLE_TIMEOUT_SEC,
      maxDeliveredIds: e.MAX_DELIVERED_IDS,
      ackDelayMaxMs: e.ACK_DELAY_MAX_MS,
      replayPageSize: e.REPLAY_PAGE_SIZE,
      replayLiveBuffer: e.REPLAY_LIVE_BUFFER,
      replayRatePerSec: e.REPLAY_RATE_PER_SEC,
      replayBurst: e.REPLAY_BURST,
      maxConnections: e.MAX_CONNECTIONS,
      maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
      maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
      connectRatePerSec: e.CONNECT_RATE_PER_SEC,
      connectBurst: e.CONNECT_BURST,
      invalidFramesPerSec: e.INVALID_FRAMES_PER_SEC,
      invalidFramesBurst: e.INVALID_FRAMES_BURST,
      sendRatePerSec: e.SEND_RATE_PER_SEC,
      sendBurst: e.SEND_BURST,
      deliveredRatePerSec: e.DELIVERED_RATE_PER_SEC,
      deliveredBurst: e.DELIVERED_BURST,
      deliveredUnknownIdCost: e.DELIVERED_UNKNOWN_ID_COST,
      readRatePerSec: e.READ_RATE_PER_SEC,
      readBurst: e.READ_BURST,
      typingRatePerSec: e.TYPING_RATE_PER_SEC,
      typingBurst: e.TYPING_BURST,
      syncRatePerSec: e.SYNC_RATE_PER_SEC,
      syncBurst: e.SYNC_BURST,
      typingIntervalMs: e.TYPING_INTERVAL_MS,
      conversationChangesPerMin: e.CONVERSATION_CHANGES_PER_MIN,
      maxGroupMembers: e.MAX_GROUP_MEMBERS,
      maxMembersPerAdd: e.MAX_MEMBERS_PER_ADD,
      maxGroupsPerUser: e.MAX_GROUPS_PER_USER,
      receiptsMaxMembers: e.RECEIPTS_MAX_MEMBERS,
      receiptsGroupIntervalMs: e.RECEIPTS_GROUP_INTERVAL_MS,
      historyPageMax: e.HISTORY_PAGE_MAX,
      apiPageMaxBytes: e.API_PAGE_MAX_BYTES,
      apiReadRatePerSec: e.API_READ_RATE_PER_SEC,
      apiReadBurst: e.API_READ_BURST,
      apiReadBytesPerToken: e.API_READ_BYTES_PER_TOKEN,
      conversationsPageMax: e.CONVERSATIONS_PAGE_MAX,
      maxTitleChars: e.MAX_TITLE_CHARS,
      busFallbackPollMs: e.BUS_FALLBACK_POLL_MS,
      busLateEventMs: e.BUS_LATE_EVENT_MS,
      rateLimitedCloseAfter: e.RATE_LIMITED_CLOSE_AFTER,
      rateLimitedCooldownSec: e.RATE_LIMITED_COOLDOWN_SEC,
    },
    trustProxy: e.TRUST_PROXY,
    metrics: { mode: metricsMode, secret: e.METRICS_SECRET, enableAdminRoute: e.METRICS_ENABLE_ADMIN_ROUTE, authFailuresPerMin: e.METRICS_AUTH_FAILURES_PER_MIN },
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY && !isProduction, repeatMs: e.LOG_REPEAT_MS },
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    shutdownDrainDelayMs: e.SHUTDOWN_DRAIN_DELAY_MS,
    uwsAllowFallback: e.UWS_ALLOW_FALLBACK,
    serveDemo: e.SERVE_DEMO ?? !isProduction,
    allowSignup: e.ALLOW_SIGNUP ?? !isProduction,
    authRate: { perIpPerMin: e.AUTH_RATE_PER_IP_PER_MIN, perUserPerMin: e.AUTH_RATE_PER_USER_PER_MIN, knownDeviceTtlSec: e.AUTH_KNOWN_DEVICE_DAYS * 86_400 },
    serverApi: { key: e.SERVER_API_KEY, authFailuresPerMin: e.SERVER_API_AUTH_FAILURES_PER_MIN },
    accessRefreshMs: e.ACCESS_REFRESH_MS,
    push: pushConfig(e),
  };
  return { config: deepFreeze(config), warnings };
}

const PUSH_SECRET_MIN_CHARS = 32;

type CleanEnv = { readonly [K in keyof typeof ENV_SPECS]: ReturnType<(typeof ENV_SPECS)[K]['_parse']> | undefined };

/** The push rules across variables (a secret's value is never part of a line). */
function pushProblems(e: Partial<Record<string, unknown>>, isProduction: boolean): string[] {
  if (e.PUSH_WEBHOOK_URL === undefined) return [];
  const lines: string[] = [];
  const secret = e.PUSH_WEBHOOK_SECRET as string | undefined;
  if (!secret) lines.push('Missing required environment variable: PUSH_WEBHOOK_SECRET (PUSH_WEBHOOK_URL needs it to sign each push)');
  else if (isProduction && [...secret].length < PUSH_SECRET_MIN_CHARS) {
    lines.push(`Invalid environment variable PUSH_WEBHOOK_SECRET: must be at least ${PUSH_SECRET_MIN_CHARS} characters in production (e.g. \`openssl rand -hex 32\`)`);
  }
  if (isProduction && typeof e.PUSH_WEBHOOK_URL === 'string' && !encryptedOrLocal(e.PUSH_WEBHOOK_URL)) {
    lines.push('Invalid environment variable PUSH_WEBHOOK_URL: must be https:// in production (each push carries a message preview); http:// only to a loopback host (a sidecar on this machine)');
  }
  const [afterMs, maxAgeMs, timeoutMs, leaseMs] = [e.PUSH_AFTER_MS, e.PUSH_MAX_AGE_MS, e.PUSH_TIMEOUT_MS, e.PUSH_LEASE_MS] as (number | undefined)[];
  if (afterMs !== undefined && maxAgeMs !== undefined && maxAgeMs <= afterMs) {
    lines.push('Invalid environment variable PUSH_MAX_AGE_MS: must be longer than PUSH_AFTER_MS (a push is due after PUSH_AFTER_MS and given up after PUSH_MAX_AGE_MS)');
  }
  if (timeoutMs !== undefined && leaseMs !== undefined && leaseMs <= timeoutMs) {
    lines.push('Invalid environment variable PUSH_LEASE_MS: must be longer than PUSH_TIMEOUT_MS (a claim must outlast one POST, or another instance sends it too)');
  }
  return lines;
}

/** https, or http to this machine (127.0.0.0/8, ::1, localhost): a preview never crosses a network in clear. */
function encryptedOrLocal(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === 'https:' || hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function pushConfig(e: CleanEnv): PushConfig | undefined {
  if (e.PUSH_WEBHOOK_URL === undefined) return undefined;
  return {
    webhookUrl: e.PUSH_WEBHOOK_URL,
    secret: e.PUSH_WEBHOOK_SECRET!,
    afterMs: e.PUSH_AFTER_MS!,
    maxAgeMs: e.PUSH_MAX_AGE_MS!,
    coalesceMs: e.PUSH_COALESCE_MS!,
    previewChars: e.PUSH_PREVIEW_CHARS!,
    queueMax: e.PUSH_QUEUE_MAX!,
    sweepMs: e.PUSH_SWEEP_MS!,
    timeoutMs: e.PUSH_TIMEOUT_MS!,
    leaseMs: e.PUSH_LEASE_MS!,
    concurrency: e.PUSH_CONCURRENCY!,
    retryBaseMs: e.PUSH_RETRY_BASE_MS!,
    retryMaxMs: Math.max(e.PUSH_RETRY_MAX_MS!, e.PUSH_RETRY_BASE_MS!),
  };
}

function dbNameOk(uri: string): boolean {
  const path = /^mongodb(?:\+srv)?:\/\/[^/]*(?:\/([^?]*))?/.exec(uri)?.[1] ?? '';
  return path === '' || /^[A-Za-z0-9_-]{1,63}$/.test(decodeURIComponent(path));
}

/** The database name of a Mongo URI (its path), `chat` when the URI has none. */
export function mongoDbName(uri: string): string {
  const path = /^mongodb(?:\+srv)?:\/\/[^/]*(?:\/([^?]*))?/.exec(uri)?.[1] ?? '';
  return path === '' ? 'chat' : decodeURIComponent(path);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The largest send or edit a client may write for a body of `maxMessageBytes`: every byte escaped, and its ids. */
export function escapedSendBytes(maxMessageBytes: number): number {
  return maxMessageBytes * 6 + 4096;
}
