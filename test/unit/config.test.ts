// Parsing of the variables that take more than a plain integer (JWT_TTL durations, BUS_URI lists,
// LISTEN_REUSE_PORT), and the start-up warnings about weak secrets.
// (The env contract itself, on a real process: test/integration/env-contract.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { sessionCookie } from '../../src/transport/session-cookie.js';

const base = { NODE_ENV: 'development', JWT_SECRET: 'dev-secret' };
/** Everything production requires, valid. */
const PRODUCTION = {
  NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), DB_URI: 'mongodb://db/chat', COOKIE_DOMAIN: 'example.com',
  CORS_ORIGIN: 'https://app.example.com', WS_PATH: '/ws', PORT: '3000', METRICS_SECRET: 'm'.repeat(32),
};
const refusal = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.lines];
    throw error;
  }
  return [];
};

describe('config', () => {
  it('reads JWT_TTL as seconds or with a unit, default one day', () => {
    assert.equal(loadConfig(base).config.jwt.ttlSec, 86_400);
    for (const [value, seconds] of [['3600', 3600], ['90s', 90], ['15m', 900], ['12h', 43_200], ['1d', 86_400], ['7d', 604_800]] as const) {
      assert.equal(loadConfig({ ...base, JWT_TTL: value }).config.jwt.ttlSec, seconds, value);
    }
  });

  it('refuses a NODE_ENV other than production, development or test: a typo must not run development mode with production secrets', () => {
    for (const value of ['prod', 'Production', 'staging', 'production ']) {
      const lines = refusal({ NODE_ENV: value });
      assert.equal(lines.filter((line) => line.startsWith('Invalid environment variable NODE_ENV:')).length, 1, `${value}: ${lines.join(' | ')}`);
    }
    for (const value of ['production', 'development', 'test']) assert.equal(loadConfig({ ...base, NODE_ENV: value, ...(value === 'production' ? PRODUCTION : {}) }).config.nodeEnv, value);
  });

  it('takes COOKIE_DOMAIN=host-only in production as no Domain attribute: the cookie goes back to this host alone', () => {
    const { config } = loadConfig({ ...PRODUCTION, COOKIE_DOMAIN: 'host-only' });
    assert.equal(config.cookie.domain, undefined);
    assert.equal(loadConfig({ ...PRODUCTION, COOKIE_DOMAIN: 'HOST-ONLY' }).config.cookie.domain, undefined, 'any case, as domains');
    assert.doesNotMatch(sessionCookie(config, 'tok', 60), /Domain=/i);
    assert.match(sessionCookie(loadConfig(PRODUCTION).config, 'tok', 60), /; Secure; Domain=example\.com$/);
  });

  it('refuses a JWT_TTL set longer than JWT_SESSION_MAX; unset, it is the shorter of its default and JWT_SESSION_MAX', () => {
    assert.equal(loadConfig({ ...base, JWT_TTL: '1h', JWT_SESSION_MAX: '1h' }).config.jwt.ttlSec, 3600);
    assert.equal(loadConfig({ ...base, JWT_SESSION_MAX: '12h' }).config.jwt.ttlSec, 43_200, 'a login token lives as long as its session at most');
    assert.equal(loadConfig(base).config.jwt.ttlSec, 86_400);
    const lines = refusal({ JWT_TTL: '2h', JWT_SESSION_MAX: '1h' });
    const refused = lines.filter((line) => line.startsWith('Invalid environment variable JWT_TTL: must not be longer than JWT_SESSION_MAX'));
    assert.equal(refused.length, 1, lines.join(' | '));
    assert.ok(refused[0]!.includes('JWT_TTL is 7200 s, JWT_SESSION_MAX 3600 s'), refused[0]);
  });

  it('refuses a JWT_TTL that is not a duration, or outside 1 minute to 1 year, with one line naming it', () => {
    for (const value of ['1w', '-5', '1.5h', 'abc', '30', '400d']) {
      const lines = refusal({ JWT_TTL: value });
      assert.equal(lines.filter((line) => line.startsWith('Invalid environment variable JWT_TTL:')).length, 1, `${value}: ${lines.join(' | ')}`);
    }
  });

  it('refuses a SHUTDOWN_DRAIN_DELAY_MS that leaves no time of SHUTDOWN_GRACE_MS for the drain itself', () => {
    assert.equal(loadConfig({ ...base, SHUTDOWN_DRAIN_DELAY_MS: '5000' }).config.shutdownDrainDelayMs, 5000);
    const lines = refusal({ SHUTDOWN_DRAIN_DELAY_MS: '10000', SHUTDOWN_GRACE_MS: '10000' });
    assert.equal(lines.filter((line) => line.startsWith('Invalid environment variable SHUTDOWN_DRAIN_DELAY_MS:')).length, 1, lines.join(' | '));
  });

  it('takes one or more nats:// or tls:// servers as BUS_URI and never echoes a refused one', () => {
    assert.equal(loadConfig({ ...base, BUS_URI: 'nats://10.0.0.5:4222,nats://10.0.0.6:4222' }).config.bus.uri, 'nats://10.0.0.5:4222,nats://10.0.0.6:4222');
    assert.equal(loadConfig(base).config.bus.uri, undefined);
    const lines = refusal({ BUS_URI: 'redis://user:hunter2@10.0.0.5:6379' });
    assert.equal(lines.filter((line) => line.startsWith('Invalid environment variable BUS_URI:')).length, 1, lines.join(' | '));
    assert.ok(!lines.join('\n').includes('hunter2'), 'the refused value (it may hold a password) is not printed');
  });

  it('refuses a secret made only of whitespace, everywhere, and warns of PORT=0 in production', () => {
    for (const name of ['JWT_SECRET', 'METRICS_SECRET', 'SERVER_API_KEY', 'PUSH_WEBHOOK_SECRET']) {
      const lines = refusal({ PUSH_WEBHOOK_URL: 'https://push.example.com/hook', PUSH_WEBHOOK_SECRET: 'dev-push-secret', [name]: '   ' });
      assert.ok(lines.includes(`Invalid environment variable ${name}: must not be blank (only whitespace)`), `${name}: ${lines.join(' | ')}`);
    }
    assert.equal(loadConfig({ ...base, PORT: '0' }).config.port, 0, 'a random port is fine outside production (tests)');
    assert.deepEqual(loadConfig({ ...PRODUCTION, PORT: '0' }).warnings, ['PORT=0 in production: the server listens on a random port (the "listening" line names it); NGINX, PM2 and health checks need a fixed one']);
  });

  it('warns in production about a METRICS_SECRET shorter than 16 characters (not bytes), without printing it', () => {
    const metricsWarnings = (secret: string) => loadConfig({ ...PRODUCTION, METRICS_SECRET: secret }).warnings.filter((w) => w.includes('METRICS_SECRET'));
    // 8 characters in 16 bytes: short enough to guess, whatever its byte count.
    for (const weak of ['§', 'change-me', 'é'.repeat(8), '🔑'.repeat(15)]) {
      const [warning, ...more] = metricsWarnings(weak);
      assert.equal(more.length, 0);
      assert.match(warning ?? '', /^METRICS_SECRET is shorter than 16 characters/, weak);
      assert.match(warning!, /METRICS_AUTH_FAILURES_PER_MIN/, 'says what still protects it');
      assert.ok(!warning!.includes(weak), 'the secret is not printed');
    }
    assert.deepEqual(metricsWarnings('0123456789abcdef'), []);
    assert.deepEqual(metricsWarnings('🔑'.repeat(16)), []);
    // Outside production, no warning (a dev key is a dev key).
    assert.deepEqual(loadConfig({ ...base, METRICS_MODE: 'secret', METRICS_SECRET: 'k' }).warnings, []);
  });

  it('reads METRICS_AUTH_FAILURES_PER_MIN (default 5) and HEALTH_PORT (default off)', () => {
    assert.equal(loadConfig(base).config.metrics.authFailuresPerMin, 5);
    assert.equal(loadConfig({ ...base, METRICS_AUTH_FAILURES_PER_MIN: '20' }).config.metrics.authFailuresPerMin, 20);
    assert.equal(refusal({ METRICS_AUTH_FAILURES_PER_MIN: '0' }).filter((l) => l.startsWith('Invalid environment variable METRICS_AUTH_FAILURES_PER_MIN:')).length, 1);
    assert.equal(loadConfig(base).config.healthPort, undefined);
    assert.equal(loadConfig({ ...base, HEALTH_PORT: '3001' }).config.healthPort, 3001);
    assert.equal(refusal({ HEALTH_PORT: 'x' }).filter((l) => l.startsWith('Invalid environment variable HEALTH_PORT:')).length, 1);
  });

  it('takes the port exclusively unless LISTEN_REUSE_PORT=true, and warns when processes sharing it would not share a store', () => {
    assert.equal(loadConfig(base).config.listenReusePort, false);
    const shared = loadConfig({ ...base, LISTEN_REUSE_PORT: 'true' });
    assert.equal(shared.config.listenReusePort, true);
    assert.ok(shared.warnings.some((line) => line.startsWith('LISTEN_REUSE_PORT=true with DB_URI=mem')), shared.warnings.join(' | '));
    assert.equal(refusal({ LISTEN_REUSE_PORT: 'sometimes' }).filter((line) => line.startsWith('Invalid environment variable LISTEN_REUSE_PORT:')).length, 1);
  });
});
