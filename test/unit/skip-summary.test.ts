// `npm test` ends with which suites were skipped, why and how to run them (node's own summary counts
// skipped tests only, so whole suites skipped for a missing MongoDB or NATS went unmentioned). Runs the
// runner and its reporter over fixtures that skip (the way the real suites do) and fail.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REQUIREMENTS } from '../helpers/skips.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REPORTER = './test/reporters/skip-summary.mjs';

describe('skip summary', () => {
  it('is printed by npm test (test/run-all.ts) after the spec report, over both of its runs, with one set of totals', async () => {
    const runAll = (...files: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/run-all.ts', ...files], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
    const totals = (stdout: string) => {
      const lines = stdout.split('\n').filter((line) => /^ℹ (tests|suites|fail) \d+$/.test(line));
      assert.equal(lines.length, 3, `one set of totals in:\n${stdout}`);
      return Object.fromEntries(lines.map((line) => [line.split(' ')[1]!, Number(line.split(' ')[2])]));
    };
    const fixture = await runAll('test/fixtures/skipping-suites.ts');
    // bus.test.ts runs alone, after the others (the machine's NATS), and skips here without MongoDB.
    const mixed = await runAll('test/fixtures/skipping-suites.ts', 'test/integration/bus.test.ts', 'test/fixtures/one-failing.ts');
    assert.equal(fixture.code, 0, fixture.stdout);
    assert.equal(mixed.code, 1, 'a failing test fails the run');
    const [alone, both] = [totals(fixture.stdout), totals(mixed.stdout)];
    assert.deepEqual(both, { tests: alone.tests! + 1, suites: alone.suites! + 1, fail: 1 });
    const lines = mixed.stdout.split('\n');
    const summary = lines.indexOf('# skipped: 3 suites and 1 test (the run passes without them):');
    assert.ok(summary > lines.findIndex((line) => line.startsWith('ℹ duration_ms')), mixed.stdout);
    assert.ok(lines.includes('#     - test/integration/bus.test.ts: live bus between two server processes'), mixed.stdout);
  });

  it('lists each skip reason with its suites and tests, where they are, and how to run them', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', 'test/fixtures/skipping-suites.ts'],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } },
    );
    const lines = stdout.trim().split('\n');
    assert.equal(lines[0], '# skipped: 2 suites and 1 test (the run passes without them):');
    const expected = [
      ['needs MongoDB: TEST_MONGO_URI not set (1 suite)', 'needs a database', REQUIREMENTS.mongo.howTo],
      ['needs NATS: nothing answers at nats://127.0.0.1:1 (1 suite)', 'needs a bus', REQUIREMENTS.nats.howTo],
      ['needs openssl: openssl is not installed (1 test)', 'needs a certificate tool', REQUIREMENTS.openssl.howTo],
    ];
    for (const [heading, name, howTo] of expected) {
      const at = lines.indexOf(`#   ${heading}`);
      assert.ok(at > 0, `no "${heading}" in:\n${stdout}`);
      assert.equal(lines[at + 1], `#     - test/fixtures/skipping-suites.ts: ${name}`);
      assert.equal(lines[at + 2], `#     to run: ${howTo}`);
    }
  });
});
