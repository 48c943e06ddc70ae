// Every environment variable the server reads, with its parser and default: declared once, here.
// config.ts gets the typed environment from cleanEnv over these specs; README.md ("Configuration") documents each one, and
// test/unit/env-docs.test.ts fails when the two name different variables.
import { bool, EnvError, makeValidator, str } from 'envalid';
import { DEFAULT_MAX_DEVICES_PER_USER } from './store/store.js';
import { parseProxyTrust, type ProxyTrust } from './transport/proxy-trust.js';

const intIn = (min: number, max: number) =>
  makeValidator<number>((input) => {
    if (!/^\d+$/.test(input.trim())) throw new EnvError(`expected an integer from ${min} to ${max}, got "${input}"`);
    const value = Number(input);
    if (value < min || value > max) throw new EnvError(`expected an integer from ${min} to ${max}, got ${value}`);
    return value;
  });

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds, written as a number of seconds or with a unit: `3600`, `90s`, `15m`, `12h`, `1d`. */
const durationSec = (min: number, max: number) =>
  makeValidator<number>((input) => {
    const match = /^(\d+)\s*([smhd]?)$/.exec(input.trim());
    if (!match) throw new EnvError(`expected a duration like 3600, 15m, 12h or 1d, got "${input}"`);
    const value = Number(match[1]) * DURATION_UNITS[match[2]!]!;
    if (value < min || value > max) throw new EnvError(`expected a duration from ${min} s to ${max} s, got ${value} s`);
    return value;
  });

const port = makeValidator<number>((input) => {
  const value = Number(input);
  if (!/^\d+$/.test(input.trim()) || value > 65535) {
    throw new EnvError(`expected a port number from 0 to 65535, got "${input}"`);
  }
  return value;
});

const wsPath = makeValidator<string>((input) => {
  if (!/^\/[A-Za-z0-9/_.~-]*$/.test(input)) {
    throw new EnvError(`must start with "/" and contain only URL path characters, got "${input}"`);
  }
  return input;
});

const dbUri = makeValidator<string>((input) => {
  if (input === 'mem' || /^mongodb(\+srv)?:\/\/[^/?#\s]+/.test(input)) return input;
  // The value may hold a password: never echo it back.
  throw new EnvError('must be "mem" (embedded in-memory store) or a mongodb:// or mongodb+srv:// URI');
});

const busUri = makeValidator<string>((input) => {
  // A comma-separated list of NATS servers (the client fails over between them). May hold credentials: never echoed.
  if (input.split(',').every((part) => /^(nats|tls):\/\/[^/?#\s]+\/?$/.test(part.trim()))) return input;
  throw new EnvError('must be one or more nats:// (or tls://) server URLs, comma-separated');
});

/** One NATS subject token: the live bus's subjects are `chat.<namespace>.…`. */
const busNamespace = makeValidator<string>((input) => {
  if (/^[A-Za-z0-9_-]{1,64}$/.test(input)) return input;
  throw new EnvError('must be 1 to 64 characters of A-Z, a-z, 0-9, _ and - (one NATS subject token)');
});

/** A comma-separated list of exact origins: scheme://host[:port], no path. */
const originList = makeValidator<readonly string[]>((input) => {
  const origins = input.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (origins.length === 0) throw new EnvError('expected one or more origins like https://app.example.com');
  for (const origin of origins) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new EnvError(`"${origin}" is not an origin like https://app.example.com`);
    }
    if (!/^https?:$/.test(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, '')) {
      throw new EnvError(`"${origin}" is not an origin like https://app.example.com (scheme and host only, no path)`);
    }
  }
  return Object.freeze(origins.map((origin) => origin.replace(/\/$/, '')));
});

const cookieDomain = makeValidator<string>((input) => {
  if (!/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(input)) throw new EnvError(`"${input}" is not a domain name`);
  return input;
});

const cookieName = makeValidator<string>((input) => {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(input)) throw new EnvError('must be 1-64 characters of [A-Za-z0-9_-]');
  return input;
});

const logLevel = makeValidator<string>((input) => {
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(input)) {
    throw new EnvError('must be one of fatal, error, warn, info, debug, trace, silent');
  }
  return input;
});

const proxyTrust = makeValidator<ProxyTrust>((input) => {
  try {
    return parseProxyTrust(input);
  } catch (error) {
    throw new EnvError((error as Error).message);
  }
});

const metricsMode = makeValidator<string>((input) => {
  if (!['secret', 'open', 'off'].includes(input)) throw new EnvError('must be one of secret, open, off');
  return input;
});

/** The offline-push webhook: an absolute http(s) URL. It may hold credentials: never echoed. */
const webhookUrl = makeValidator<string>((input) => {
  let parsed: URL | undefined;
  try {
    parsed = new URL(input);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) throw new EnvError('must be an absolute http:// or https:// URL');
  // Accepted, it would fail every push as `network`: fetch throws on a URL with userinfo.
  if (parsed.username || parsed.password) {
    throw new EnvError('must not hold credentials (user:password@): fetch refuses such a URL; let the receiver check X-Chat-Signature instead');
  }
  return input;
});

// `devDefault` makes a variable required in production (envalid's rule) and defaulted elsewhere.
export const ENV_SPECS = {
  // Only these: `NODE_ENV=prod` used to run development mode (open metrics and signup, the demo page)
  // with production's secrets, its start line saying "mode":"prod" (an operator probe, 2026-12-07).
  NODE_ENV: str({ choices: ['production', 'development', 'test'], default: 'development' }),
  HOST: str({ default: '0.0.0.0' }),
  PORT: port({ devDefault: 3000 }),
  HEALTH_PORT: port({ default: undefined }),
  LISTEN_REUSE_PORT: bool({ default: false }),
  JWT_SECRET: str(),
  JWT_AUDIENCE: str({ default: undefined }),
  JWT_ISSUER: str({ default: undefined }),
  JWT_TTL: durationSec(60, 31_536_000)({ default: 86_400 }),
  // How long refresh may renew one session, from its login (or its first token's iat): a stolen or
  // externally minted token was renewable for ever (attacker probe).
  JWT_SESSION_MAX: durationSec(60, 315_360_000)({ default: 2_592_000 }),
  DB_URI: dbUri({ devDefault: 'mem' }),
  DB_OP_TIMEOUT_MS: intIn(100, 600_000)({ default: 5000 }),
  BUS_URI: busUri({ default: undefined }),
  BUS_NAMESPACE: busNamespace({ default: undefined }),
  BUS_WATCH_TIMEOUT_MS: intIn(10, 60_000)({ default: 1000 }),
  BUS_FALLBACK_POLL_MS: intIn(0, 600_000)({ default: 1000 }),
  BUS_LATE_EVENT_MS: intIn(0, 600_000)({ default: 500 }),
  DB_BATCH_MAX_WAIT_MS: intIn(0, 1000)({ default: 2 }),
  DB_BATCH_MAX_OPS: intIn(1, 100_000)({ default: 512 }),
  DB_BATCH_MAX_OPS_PER_USER: intIn(1, 100_000)({ default: 64 }),
  CURSOR_CACHE_MAX: intIn(1, 100_000_000)({ default: 100_000 }),
  MAX_DEVICES_PER_USER: intIn(1, 1_000_000)({ default: DEFAULT_MAX_DEVICES_PER_USER }),
  COOKIE_DOMAIN: cookieDomain({ devDefault: undefined }),
  AUTH_COOKIE_NAME: cookieName({ default: 'token' }),
  CORS_ORIGIN: originList({ devDefault: undefined }),
  WS_PATH: wsPath({ devDefault: '/ws' }),
  MAX_MESSAGE_BYTES: intIn(1, 16_777_216)({ default: 16_384 }),
  WS_MAX_PAYLOAD_BYTES: intIn(1024, 67_108_864)({ default: undefined }),
  MAX_HTTP_BODY_BYTES: intIn(1024, 67_108_864)({ default: undefined }),
  // uWS closes an HTTP connection 10 s (checked every 4 s: seen at 8.2-9.2 s here) after its request
  // began, whether its body is still arriving or not, and answers nothing: a slow body must get its
  // 408 before that. Up to 2026-12-07 this took up to 600 s (default 10 s), and a body still arriving
  // after ~8 s was cut without an answer.
  HTTP_BODY_TIMEOUT_MS: intIn(100, 7000)({ default: 7000 }),
  // The same bound: a body that sends nothing for this long gets 408 (it matters when
  // HTTP_BODY_TIMEOUT_MS is set longer than it).
  HTTP_BODY_STALL_MS: intIn(100, 7000)({ default: 7000 }),
  WS_MAX_BACKPRESSURE_BYTES: intIn(1024, 1_073_741_824)({ default: 1_048_576 }),
  WS_IDLE_TIMEOUT_SEC: intIn(8, 960)({ default: 120 }),
  MAX_DELIVERED_IDS: intIn(1, 100_000)({ default: 1000 }),
  ACK_DELAY_MAX_MS: intIn(0, 60_000)({ default: 1000 }),
  REPLAY_PAGE_SIZE: intIn(1, 100_000)({ default: 500 }),
  REPLAY_LIVE_BUFFER: intIn(1, 1_000_000)({ default: 10_000 }),
  // Messages a user's replays send and pages they read, per second past a burst (all devices, connects and syncs): each
  // `sync` or reconnect re-sends everything unconfirmed, so without it one frame from a user who never
  // confirms cost the server ~8 µs per pending message, 2 syncs and 5 connects a second.
  REPLAY_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 5000 }),
  REPLAY_BURST: intIn(1, 10_000_000)({ default: 50_000 }),
  MAX_CONNECTIONS: intIn(1, 10_000_000)({ default: 100_000 }),
  MAX_CONNECTIONS_PER_IP: intIn(1, 10_000_000)({ default: 1000 }),
  MAX_CONNECTIONS_PER_USER: intIn(1, 10_000_000)({ default: 100 }),
  CONNECT_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 5 }),
  CONNECT_BURST: intIn(1, 10_000_000)({ default: 50 }),
  SEND_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 50 }),
  SEND_BURST: intIn(1, 10_000_000)({ default: 100 }),
  DELIVERED_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 1000 }),
  DELIVERED_BURST: intIn(1, 10_000_000)({ default: 5000 }),
  DELIVERED_UNKNOWN_ID_COST: intIn(1, 10_000)({ default: 10 }),
  READ_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 20 }),
  READ_BURST: intIn(1, 10_000_000)({ default: 100 }),
  TYPING_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 5 }),
  TYPING_BURST: intIn(1, 10_000_000)({ default: 20 }),
  SYNC_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 2 }),
  SYNC_BURST: intIn(1, 10_000_000)({ default: 10 }),
  TYPING_INTERVAL_MS: intIn(0, 60_000)({ default: 2000 }),
  CONVERSATION_CHANGES_PER_MIN: intIn(1, 1_000_000)({ default: 60 }),
  MAX_GROUP_MEMBERS: intIn(1, 1_000_000)({ default: 1000 }),
  MAX_MEMBERS_PER_ADD: intIn(1, 1_000_000)({ default: 100 }),
  // Groups one user may be a member of: anyone can add anyone, and a user's list page and every
  // connect cost O(its conversations); three accounts put one user in thousands (attacker probe).
  MAX_GROUPS_PER_USER: intIn(1, 1_000_000)({ default: 500 }),
  RECEIPTS_MAX_MEMBERS: intIn(0, 1_000_000)({ default: 100 }),
  // A group's receipts to its other members go out at most this often per (conversation, member),
  // with the newest watermarks: without it a group of N cost N² frames per message (src/chat/signals.ts).
  RECEIPTS_GROUP_INTERVAL_MS: intIn(0, 60_000)({ default: 500 }),
  HISTORY_PAGE_MAX: intIn(1, 10_000)({ default: 200 }),
  // A history or conversation-list page's JSON, at most (at least one item always goes): 200 messages
  // of 16 KiB control characters were a 14 MB page, built in full for every GET and HEAD.
  API_PAGE_MAX_BYTES: intIn(1024, 1_073_741_824)({ default: 1_048_576 }),
  // GET and HEAD on the API per user: a request takes 1, and 1 more per API_READ_BYTES_PER_TOKEN of
  // its answer (charged after), so big pages cost what they weigh.
  API_READ_RATE_PER_SEC: intIn(1, 10_000_000)({ default: 20 }),
  API_READ_BURST: intIn(1, 10_000_000)({ default: 100 }),
  API_READ_BYTES_PER_TOKEN: intIn(1024, 1_073_741_824)({ default: 262_144 }),
  CONVERSATIONS_PAGE_MAX: intIn(1, 10_000)({ default: 100 }),
  MAX_TITLE_CHARS: intIn(1, 10_000)({ default: 200 }),
  INVALID_FRAMES_PER_SEC: intIn(1, 10_000_000)({ default: 10 }),
  INVALID_FRAMES_BURST: intIn(1, 10_000_000)({ default: 100 }),
  RATE_LIMITED_CLOSE_AFTER: intIn(1, 1_000_000)({ default: 20 }),
  RATE_LIMITED_COOLDOWN_SEC: intIn(0, 86_400)({ default: 10 }),
  TRUST_PROXY: proxyTrust({ default: false }),
  METRICS_MODE: metricsMode({ default: undefined }),
  METRICS_SECRET: str({ default: undefined }),
  METRICS_ENABLE_ADMIN_ROUTE: bool({ default: false }),
  METRICS_AUTH_FAILURES_PER_MIN: intIn(1, 1_000_000)({ default: 5 }),
  ALLOW_PUBLIC_METRICS_IN_PROD: bool({ default: false }),
  LOG_LEVEL: logLevel({ default: 'info' }),
  LOG_PRETTY: bool({ default: false }),
  // A warning or error repeated within this is counted, not written, then summed in one line (log-repeats.ts); 0 writes each.
  LOG_REPEAT_MS: intIn(0, 3_600_000)({ default: 10_000 }),
  SHUTDOWN_GRACE_MS: intIn(0, 600_000)({ default: 10_000 }),
  SHUTDOWN_DRAIN_DELAY_MS: intIn(0, 300_000)({ default: 0 }),
  UWS_ALLOW_FALLBACK: bool({ default: false }),
  SERVE_DEMO: bool({ default: undefined }),
  ALLOW_SIGNUP: bool({ default: undefined }),
  AUTH_RATE_PER_IP_PER_MIN: intIn(1, 1_000_000)({ default: 30 }),
  AUTH_RATE_PER_USER_PER_MIN: intIn(1, 1_000_000)({ default: 10 }),
  AUTH_KNOWN_DEVICE_DAYS: intIn(0, 3650)({ default: 365 }),
  SERVER_API_KEY: str({ default: undefined }),
  SERVER_API_AUTH_FAILURES_PER_MIN: intIn(1, 1_000_000)({ default: 5 }),
  ACCESS_REFRESH_MS: intIn(0, 600_000)({ default: 1000 }),
  // The offline-push webhook (src/push/): off unless PUSH_WEBHOOK_URL is set.
  PUSH_WEBHOOK_URL: webhookUrl({ default: undefined }),
  PUSH_WEBHOOK_SECRET: str({ default: undefined }),
  PUSH_AFTER_MS: intIn(0, 86_400_000)({ default: 10_000 }),
  PUSH_MAX_AGE_MS: intIn(1000, 604_800_000)({ default: 3_600_000 }),
  PUSH_COALESCE_MS: intIn(0, 86_400_000)({ default: 30_000 }),
  PUSH_PREVIEW_CHARS: intIn(0, 10_000)({ default: 100 }),
  PUSH_QUEUE_MAX: intIn(1, 10_000_000)({ default: 10_000 }),
  PUSH_SWEEP_MS: intIn(10, 600_000)({ default: 1000 }),
  PUSH_TIMEOUT_MS: intIn(100, 600_000)({ default: 5000 }),
  PUSH_LEASE_MS: intIn(1000, 86_400_000)({ default: 30_000 }),
  PUSH_CONCURRENCY: intIn(1, 1000)({ default: 8 }),
  PUSH_RETRY_BASE_MS: intIn(10, 3_600_000)({ default: 1000 }),
  PUSH_RETRY_MAX_MS: intIn(10, 86_400_000)({ default: 300_000 }),
};

