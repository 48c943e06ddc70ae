// `npm test`: every test file, two at a time, then the few that must run alone, in one report (the
// spec reporter, then test/reporters/skip-summary.mjs) with one set of totals and one exit code.
//
// Two at a time because most files wait (servers restarted and held down, clones installed, timeouts
// run out) more than they compute: one at a time took 771 s of CI's ~900. Run as
//   node --import tsx test/run-all.ts [file ...]      (no files: every test/**/*.test.ts)
// Child processes inherit `--import tsx` from this one.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import skipSummary from './reporters/skip-summary.mjs';

/** Files that run alone, after the rest, and why. */
const ALONE: Record<string, string> = {
  // Its gate compares a pair's p99 alone against its p99 beside a flooder: another file's load
  // starting or stopping between the two phases would move the ratio.
  'test/reliability/confirmation-flood.test.ts': 'compares its own latencies across phases',
  // Overloads FerretDB on purpose and gives its backlog 60 s to drain: with another file's Mongo load
  // beside it the drain missed that budget (CI, 2806761), so it gets the store to itself.
  'test/reliability/slow-restarts.test.ts': 'overloads the shared FerretDB against a settle budget',
  // Compares the time of two login paths (no user vs wrong password).
  'test/integration/accounts.test.ts': 'compares two timings',
  // (The files on the machine's NATS each take a BUS_NAMESPACE of their own, test/helpers/nats.ts,
  // so they run beside each other.)
};
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY ?? '2');
if (!Number.isSafeInteger(CONCURRENCY) || CONCURRENCY < 1) throw new Error(`TEST_CONCURRENCY must be a whole number ≥ 1, not ${process.env.TEST_CONCURRENCY}`);

const everyFile = () => readdirSync('test', { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.test.ts')).map((file) => join('test', file));
const chosen = (process.argv.length > 2 ? process.argv.slice(2) : everyFile()).map((file) => relative(process.cwd(), file)).sort();
const together = chosen.filter((file) => !(file in ALONE));
const alone = chosen.filter((file) => file in ALONE);

/** The root's totals (`tests 600`, `pass 599`, …): each run has its own; the report gets their sums. */
const TOTAL = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/;

async function* events() {
  const totals = new Map<string, number>();
  const started = performance.now();
  const lanes: [files: string[], concurrency: number][] = [[together, CONCURRENCY], [alone, 1]];
  for (const [files, concurrency] of lanes) {
    if (files.length === 0) continue;
    for await (const event of run({ files, concurrency })) {
      if (event.type === 'test:diagnostic' && event.data.file === undefined && event.data.nesting === 0) {
        const total = TOTAL.exec(event.data.message);
        if (total) {
          totals.set(total[1]!, (totals.get(total[1]!) ?? 0) + Number(total[2]));
          continue;
        }
      }
      if (event.type === 'test:fail' && !event.data.todo) process.exitCode = 1;
      yield event;
    }
  }
  totals.set('duration_ms', performance.now() - started);
  for (const [name, value] of totals) yield { type: 'test:diagnostic', data: { nesting: 0, message: `${name} ${value}` } };
}

console.log(`# ${together.length} files ${CONCURRENCY} at a time, then ${alone.length} alone: ${alone.map((file) => `${file} (${ALONE[file]})`).join(', ') || 'none'}`);
const source = Readable.from(events());
const toSpec = new PassThrough({ objectMode: true });
const toSkips = new PassThrough({ objectMode: true });
source.pipe(toSpec);
source.pipe(toSkips);
const skips = (async () => {
  let text = '';
  for await (const chunk of skipSummary(toSkips)) text += chunk;
  return text;
})();
await pipeline(toSpec, new spec(), process.stdout, { end: false });
process.stdout.write(await skips);
