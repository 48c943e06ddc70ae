// `npm test` ends with which suites were skipped, why and how to run them (node's own summary counts
// skipped tests only, so whole suites skipped for a missing MongoDB or NATS went unmentioned). Runs the
// reporter, as package.json's test script wires it, over a fixture that skips the way the real suites do.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REQUIREMENTS } from '../helpers/skips.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REPORTER = './test/reporters/skip-summary.mjs';

describe('skip summary', () => {
  it('is printed by npm test, after the spec reporter', async () => {
    const { scripts } = JSON.parse(await readFile(new URL('package.json', `file://${ROOT}/`), 'utf8')) as { scripts: Record<string, string> };
    assert.match(scripts.test!, new RegExp(`--test-reporter=spec --test-reporter-destination=stdout --test-reporter=${REPORTER} --test-reporter-destination=stdout`));
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
