// The offline-push webhook's pure parts: its configuration rules, the signature a receiver verifies,
// the notification id and the preview. (End to end: test/integration/push-webhook.test.ts.)
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { previewOf, pushNotificationId } from '../../src/push/notification.js';
import { signatureHeader, verifySignature } from '../../src/push/signature.js';

const base = { NODE_ENV: 'development', JWT_SECRET: 'dev-secret' };
const PROD = {
  NODE_ENV: 'production', PORT: '3000', JWT_SECRET: 'x'.repeat(40), DB_URI: 'mongodb://db:27017/chat', COOKIE_DOMAIN: 'example.com',
  CORS_ORIGIN: 'https://app.example.com', WS_PATH: '/ws', METRICS_SECRET: 'm'.repeat(32),
};
const refusal = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.lines];
    throw error;
  }
  return [];
};

describe('push configuration', () => {
  it('is off unless PUSH_WEBHOOK_URL is set; the other PUSH_ variables alone change nothing', () => {
    assert.equal(loadConfig(base).config.push, undefined);
    assert.equal(loadConfig({ ...base, PUSH_AFTER_MS: '5', PUSH_WEBHOOK_SECRET: 's' }).config.push, undefined);
    assert.equal(loadConfig({ ...base, PUSH_WEBHOOK_URL: '' }).config.push, undefined, 'empty means unset (compose passes it empty)');
  });

  it('with a URL: defaults as documented, and the secret is required', () => {
    const push = loadConfig({ ...base, PUSH_WEBHOOK_URL: 'https://push.example.com/hook', PUSH_WEBHOOK_SECRET: 'short-is-fine-in-dev' }).config.push;
    assert.deepEqual(push, {
      webhookUrl: 'https://push.example.com/hook', secret: 'short-is-fine-in-dev', afterMs: 10_000, maxAgeMs: 3_600_000, coalesceMs: 30_000,
      previewChars: 100, queueMax: 10_000, sweepMs: 1000, timeoutMs: 5000, leaseMs: 30_000, concurrency: 8, retryBaseMs: 1000, retryMaxMs: 300_000,
    });
    assert.deepEqual(refusal({ ...base, PUSH_WEBHOOK_URL: 'https://push.example.com/hook' }), [
      'Missing required environment variable: PUSH_WEBHOOK_SECRET (PUSH_WEBHOOK_URL needs it to sign each push)',
    ]);
  });

  it('in production the secret must be at least 32 characters, and its value is never printed', () => {
    const secret = 'too-short-secret-value';
    const lines = refusal({ ...PROD, PUSH_WEBHOOK_URL: 'https://push.example.com/hook', PUSH_WEBHOOK_SECRET: secret });
    assert.equal(lines.length, 1, lines.join(' | '));
    assert.match(lines[0]!, /^Invalid environment variable PUSH_WEBHOOK_SECRET: must be at least 32 characters in production/);
    assert.ok(!lines[0]!.includes(secret));
    assert.ok(loadConfig({ ...PROD, PUSH_WEBHOOK_URL: 'https://push.example.com/hook', PUSH_WEBHOOK_SECRET: 's'.repeat(32) }).config.push);
  });

  it('in production refuses an http:// URL to another machine (previews in clear), not one to loopback', () => {
    const secret = 's'.repeat(32);
    for (const url of ['http://push.example.com/hook?key=k1', 'http://10.0.0.7:8080/hook', 'http://127.example.com/hook']) {
      const lines = refusal({ ...PROD, PUSH_WEBHOOK_URL: url, PUSH_WEBHOOK_SECRET: secret });
      assert.deepEqual(lines, ['Invalid environment variable PUSH_WEBHOOK_URL: must be https:// in production (each push carries a message preview); http:// only to a loopback host (a sidecar on this machine)'], url);
    }
    for (const url of ['http://127.0.0.1:9000/hook', 'http://localhost:9000/hook', 'http://[::1]:9000/hook', 'https://push.example.com/hook']) {
      assert.ok(loadConfig({ ...PROD, PUSH_WEBHOOK_URL: url, PUSH_WEBHOOK_SECRET: secret }).config.push, url);
    }
    assert.ok(loadConfig({ ...base, PUSH_WEBHOOK_URL: 'http://push.example.com/hook', PUSH_WEBHOOK_SECRET: 's' }).config.push, 'development allows http');
  });

  it('refuses a URL that is not absolute http(s), a max age not above the delay, a lease not above the timeout', () => {
    for (const url of ['push.example.com', 'ftp://push.example.com/', 'not a url']) {
      const lines = refusal({ ...base, PUSH_WEBHOOK_URL: url, PUSH_WEBHOOK_SECRET: 's' });
      assert.ok(lines.some((line) => line.startsWith('Invalid environment variable PUSH_WEBHOOK_URL:')), `${url}: ${lines.join(' | ')}`);
      assert.ok(lines.every((line) => !line.includes(url)), 'the URL (which may hold credentials) is not echoed');
    }
    // fetch refuses a URL with credentials: accepted, every push would fail as `network` forever.
    for (const url of ['http://user:hunter2@push.example.com/hook', 'https://token@push.example.com/hook']) {
      const lines = refusal({ ...base, PUSH_WEBHOOK_URL: url, PUSH_WEBHOOK_SECRET: 's' });
      assert.deepEqual(lines, ['Invalid environment variable PUSH_WEBHOOK_URL: must not hold credentials (user:password@): fetch refuses such a URL; let the receiver check X-Chat-Signature instead'], url);
    }
    const on = { ...base, PUSH_WEBHOOK_URL: 'http://127.0.0.1:9/hook', PUSH_WEBHOOK_SECRET: 's' };
    assert.match(refusal({ ...on, PUSH_AFTER_MS: '5000', PUSH_MAX_AGE_MS: '5000' })[0] ?? '', /^Invalid environment variable PUSH_MAX_AGE_MS:/);
    assert.match(refusal({ ...on, PUSH_TIMEOUT_MS: '5000', PUSH_LEASE_MS: '5000' })[0] ?? '', /^Invalid environment variable PUSH_LEASE_MS:/);
  });
});

describe('push signature', () => {
  const secret = 'whsec-0123456789abcdef0123456789abcdef';
  const body = JSON.stringify({ id: 'abc', preview: 'héllo 👋' });

  it('is t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, computable by any receiver', () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    assert.equal(header, `t=1700000000,v1=${expected}`);
  });

  it('verifies the same body and secret within the tolerance, nothing else', () => {
    const now = 1_700_000_000;
    const header = signatureHeader(secret, body, now);
    assert.equal(verifySignature(header, body, secret, { nowSec: now + 10 }), true);
    assert.equal(verifySignature(header, `${body} `, secret, { nowSec: now }), false, 'another body');
    assert.equal(verifySignature(header, body, `${secret}x`, { nowSec: now }), false, 'another secret');
    assert.equal(verifySignature(header, body, secret, { nowSec: now + 301 }), false, 'too old: a replay');
    assert.equal(verifySignature(header.replace(/v1=./, 'v1=0'), body, secret, { nowSec: now }), false);
    assert.equal(verifySignature(`t=${now},v1=zz`, body, secret, { nowSec: now }), false);
    assert.equal(verifySignature(undefined, body, secret), false);
    assert.equal(verifySignature('garbage', body, secret), false);
    // A later scheme may add signatures: any matching v1 passes.
    assert.equal(verifySignature(`t=${now},v1=${'0'.repeat(64)},${header.split(',')[1]}`, body, secret, { nowSec: now }), true);
  });
});

describe('push notification', () => {
  it('has one id per (recipient, conversation, seq), the same on every instance', () => {
    const a = pushNotificationId('bob', 'd:alice:bob', 3);
    assert.equal(a, pushNotificationId('bob', 'd:alice:bob', 3));
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.notEqual(a, pushNotificationId('bob', 'd:alice:bob', 4));
    assert.notEqual(a, pushNotificationId('alice', 'd:alice:bob', 3));
    assert.ok(!a.includes('bob'));
  });

  it('cuts the preview by characters, never inside an emoji; 0 sends none', () => {
    assert.equal(previewOf('hello world', 5), 'hello');
    assert.equal(previewOf('hi', 5), 'hi');
    assert.equal(previewOf('👋👋👋', 2), '👋👋');
    assert.equal(previewOf('anything', 0), null);
  });

  it('cuts between grapheme clusters: a flag, a ZWJ family or a skin tone is kept whole or left out', () => {
    // PUSH_PREVIEW_CHARS counts code points (a bound on size); the cut falls before a cluster that does not fit.
    assert.equal(previewOf(`${'x'.repeat(99)}🇫🇷 rest`, 100), 'x'.repeat(99));
    assert.equal(previewOf(`${'x'.repeat(98)}👨‍👩‍👧 rest`, 100), 'x'.repeat(98));
    assert.equal(previewOf(`${'x'.repeat(93)}👨‍👩‍👧 rest`, 100), `${'x'.repeat(93)}👨‍👩‍👧 r`);
    assert.equal(previewOf('a👋🏽b', 2), 'a');
    assert.equal(previewOf('👋🏽héllo', 5), '👋🏽hél');
    assert.equal(previewOf('e\u0301xyz', 3), 'e\u0301x', 'a combining accent stays on its letter');
    assert.equal(previewOf('e\u0301xyz', 1), '', 'never a letter without its accent');
  });
});
