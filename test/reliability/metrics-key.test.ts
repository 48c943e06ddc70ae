// Guessing the x-metrics-key, on the real server: wrong keys are limited per client address
// (METRICS_AUTH_FAILURES_PER_MIN), after which that address gets 429 for every /metrics request, the
// right key included, so the answers stop telling a guess from the key. Other addresses keep
// scraping; requests without a key guess nothing and are not counted; no key reaches the log.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { metricValue } from './metric-value.js';

const SECRET = 'metrics-key-0123456789abcdef';
const FAILURES_PER_MIN = 3;

describe('x-metrics-key guessing', () => {
  let t: TestServer;
  const logLines: string[] = [];
  const scrape = (from: string, key?: string) =>
    fetch(`${t.httpUrl}/metrics`, { headers: { 'x-forwarded-for': from, ...(key === undefined ? {} : { 'x-metrics-key': key }) } });

  before(async () => {
    const log = createLogger({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    t = await startTestServer({
      log,
      env: { METRICS_MODE: 'secret', METRICS_SECRET: SECRET, METRICS_AUTH_FAILURES_PER_MIN: String(FAILURES_PER_MIN), TRUST_PROXY: 'true' },
    });
  });
  after(() => t.close());

  it(`answers 401 to ${FAILURES_PER_MIN} wrong keys from one address, then 429 with Retry-After to everything from it, the right key included`, async () => {
    const guesser = '203.0.113.66';
    let guesses = 0;
    for (let i = 0; i < FAILURES_PER_MIN; i++, guesses++) assert.equal((await scrape(guesser, `guess-${i}`)).status, 401);
    const limited = await scrape(guesser, 'guess-next');
    guesses++;
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers.get('retry-after')}`);
    for (let i = 0; i < 20; i++, guesses++) assert.equal((await scrape(guesser, `guess-more-${i}`)).status, 429);
    assert.equal((await scrape(guesser, SECRET)).status, 429, 'the right key tells nothing while limited');
    assert.equal((await scrape(guesser)).status, 429);
    assert.equal(await metricValue(t.server.metrics.rateLimited, { limit: 'metrics_key' }), 23);
    console.log(`metrics-key: ${guesses} guesses from one address, ${FAILURES_PER_MIN} compared with the key, the rest 429 (Retry-After ${retryAfter} s)`);
  });

  it('other addresses keep scraping with the right key and have their own budget', async () => {
    assert.equal((await scrape('198.51.100.10', SECRET)).status, 200);
    assert.equal((await scrape('198.51.100.11', 'wrong')).status, 401);
    assert.equal((await scrape('198.51.100.11', SECRET)).status, 200);
  });

  it('requests without a key are refused (401) but not counted as guesses', async () => {
    const scraper = '198.51.100.20';
    for (let i = 0; i < 3 * FAILURES_PER_MIN; i++) assert.equal((await scrape(scraper)).status, 401);
    assert.equal((await scrape(scraper, SECRET)).status, 200);
  });

  it('never logs a key, right or wrong; logs the limited address once per limit', async () => {
    const text = logLines.join('');
    assert.ok(!text.includes(SECRET), 'the secret is not logged');
    assert.ok(!/guess-/.test(text), 'wrong keys are not logged');
    const limitedLines = logLines.filter((line) => line.includes('metrics key: too many wrong keys'));
    assert.equal(limitedLines.length, 1, limitedLines.join(''));
    assert.match(limitedLines[0]!, /"ip":"203\.0\.113\.66"/);
  });
});
