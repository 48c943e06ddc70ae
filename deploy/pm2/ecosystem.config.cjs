// PM2 process file for running the server on a host without Docker (docs/production-runbook.md, "PM2").
// One process: uWS is single-threaded and owns its port; scale by running more instances on other
// ports or hosts behind NGINX, never PM2 cluster mode (cluster mode shares a port through Node's
// cluster module, which uWS does not use).
//
// The app is named `chat`, or CHAT_PM2_NAME when set: PM2 knows an app by its name, so a second
// `pm2 start` under the same name restarts the first on the new PORT instead of adding one. For a
// second instance on this host, start it under its own name:
//   CHAT_PM2_NAME=chat-3001 PORT=3001 pm2 start deploy/pm2/ecosystem.config.cjs --update-env
//
// Values are never written here: every variable is read from the environment of the shell that runs
//   pm2 start deploy/pm2/ecosystem.config.cjs --update-env
// (EC2: an EnvironmentFile, SSM parameters exported by the boot script, ...). A missing required one
// makes the server exit 1 with its "Missing required environment variable for production" line, which
// PM2 shows in `pm2 logs chat`. PM2 keeps the environment an app was first started with: to remove a
// variable, `pm2 delete <name>` and start it again (a restart with --update-env keeps the old value).
const path = require('node:path');

/** The names the server reads (src/config-specs.ts; scripts/production-check.sh checks the two agree). Only those set are passed on. */
const NAMES = [
  'PORT', 'HOST', 'LISTEN_REUSE_PORT', 'JWT_SECRET', 'JWT_AUDIENCE', 'JWT_ISSUER', 'JWT_TTL', 'JWT_SESSION_MAX',
  'DB_URI', 'DB_OP_TIMEOUT_MS', 'DB_BATCH_MAX_WAIT_MS', 'DB_BATCH_MAX_OPS', 'CURSOR_CACHE_MAX', 'MAX_DEVICES_PER_USER', 'BUS_URI', 'BUS_NAMESPACE', 'BUS_WATCH_TIMEOUT_MS',
  'COOKIE_DOMAIN', 'AUTH_COOKIE_NAME', 'CORS_ORIGIN', 'WS_PATH',
  'MAX_MESSAGE_BYTES', 'WS_MAX_PAYLOAD_BYTES', 'MAX_HTTP_BODY_BYTES', 'HTTP_BODY_TIMEOUT_MS', 'HTTP_BODY_STALL_MS',
  'WS_MAX_BACKPRESSURE_BYTES', 'WS_IDLE_TIMEOUT_SEC', 'MAX_DELIVERED_IDS', 'ACK_DELAY_MAX_MS', 'REPLAY_PAGE_SIZE', 'REPLAY_LIVE_BUFFER', 'REPLAY_RATE_PER_SEC', 'REPLAY_BURST',
  'MAX_CONNECTIONS', 'MAX_CONNECTIONS_PER_IP', 'MAX_CONNECTIONS_PER_USER', 'CONNECT_RATE_PER_SEC', 'CONNECT_BURST', 'INVALID_FRAMES_PER_SEC', 'INVALID_FRAMES_BURST', 'TRUST_PROXY', 'SEND_RATE_PER_SEC', 'SEND_BURST',
  'METRICS_MODE', 'METRICS_SECRET', 'METRICS_ENABLE_ADMIN_ROUTE', 'ALLOW_PUBLIC_METRICS_IN_PROD',
  'AUTH_RATE_PER_IP_PER_MIN', 'AUTH_RATE_PER_USER_PER_MIN', 'AUTH_KNOWN_DEVICE_DAYS', 'ALLOW_SIGNUP', 'SERVE_DEMO',
  'LOG_LEVEL', 'LOG_REPEAT_MS', 'SHUTDOWN_GRACE_MS', 'SHUTDOWN_DRAIN_DELAY_MS', 'UWS_ALLOW_FALLBACK',
  'HEALTH_PORT', 'BUS_FALLBACK_POLL_MS', 'BUS_LATE_EVENT_MS', 'DB_BATCH_MAX_OPS_PER_USER',
  'DELIVERED_RATE_PER_SEC', 'DELIVERED_BURST', 'DELIVERED_UNKNOWN_ID_COST', 'READ_RATE_PER_SEC', 'READ_BURST',
  'TYPING_RATE_PER_SEC', 'TYPING_BURST', 'SYNC_RATE_PER_SEC', 'SYNC_BURST', 'TYPING_INTERVAL_MS', 'CONVERSATION_CHANGES_PER_MIN',
  'MAX_GROUP_MEMBERS', 'MAX_MEMBERS_PER_ADD', 'MAX_GROUPS_PER_USER', 'RECEIPTS_MAX_MEMBERS', 'RECEIPTS_GROUP_INTERVAL_MS', 'HISTORY_PAGE_MAX', 'API_PAGE_MAX_BYTES',
  'API_READ_RATE_PER_SEC', 'API_READ_BURST', 'API_READ_BYTES_PER_TOKEN',
  'CONVERSATIONS_PAGE_MAX', 'MAX_TITLE_CHARS', 'RATE_LIMITED_CLOSE_AFTER', 'RATE_LIMITED_COOLDOWN_SEC',
  'METRICS_AUTH_FAILURES_PER_MIN', 'SERVER_API_KEY', 'SERVER_API_AUTH_FAILURES_PER_MIN', 'ACCESS_REFRESH_MS',
  'PUSH_WEBHOOK_URL', 'PUSH_WEBHOOK_SECRET', 'PUSH_AFTER_MS', 'PUSH_MAX_AGE_MS', 'PUSH_COALESCE_MS', 'PUSH_PREVIEW_CHARS',
  'PUSH_QUEUE_MAX', 'PUSH_SWEEP_MS', 'PUSH_TIMEOUT_MS', 'PUSH_LEASE_MS', 'PUSH_CONCURRENCY', 'PUSH_RETRY_BASE_MS', 'PUSH_RETRY_MAX_MS',
];

// Behind NGINX on the same host: only its address may tell the client's (a scraper reaching PORT cannot).
const env = { NODE_ENV: 'production', TRUST_PROXY: '127.0.0.1,::1' };
for (const name of NAMES) if (process.env[name] !== undefined) env[name] = process.env[name];

const graceMs = Number(process.env.SHUTDOWN_GRACE_MS ?? 10_000);
const name = process.env.CHAT_PM2_NAME || 'chat'; // not passed on: the server does not read it

module.exports = {
  apps: [
    {
      name,
      cwd: path.resolve(__dirname, '../..'),
      script: 'dist/main.js', // build first: npm ci && npm run build
      interpreter: 'node',
      exec_mode: 'fork',
      instances: 1,
      env,
      // PM2 stops with SIGINT, which the server treats like SIGTERM: it drains, then exits 0 within
      // SHUTDOWN_GRACE_MS. Kill it only after that has passed.
      kill_timeout: graceMs + 5_000,
      autorestart: true,
      exp_backoff_restart_delay: 200, // a crash loop (bad env, store down) backs off instead of spinning
      max_memory_restart: '1500M',
      // No `time: true`: the server's lines are JSON with their own "time", and PM2's prefix would
      // make its log files something else than one JSON object per line.
      merge_logs: true,
    },
  ],
};
