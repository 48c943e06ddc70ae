// A node:test reporter that prints, after everything else, which suites and tests were skipped, why,
// and how to run them. node's own summary counts skipped tests only ("skipped 0" while whole suites
// skipped for a missing MongoDB, NATS, nginx or Chromium), so a green run could hide what never ran.
// Used by `npm test` beside the spec reporter; the reasons and how-tos come from test/helpers/skips.ts.
// JavaScript because node loads reporters before `--import tsx` applies; tsx's API loads the .ts table.
import { relative } from 'node:path';
import { tsImport } from 'tsx/esm/api';

/** @param {AsyncIterable<{ type: string, data: { name: string, file?: string, skip?: string | boolean, details?: { type?: string } } }>} source */
export default async function* skipSummary(source) {
  const { howToRun } = await tsImport('../helpers/skips.ts', import.meta.url);
  /** @type {Map<string, { suites: number, tests: number, where: string[] }>} */
  const byReason = new Map();
  for await (const { type, data } of source) {
    if ((type !== 'test:pass' && type !== 'test:fail') || data.skip === undefined || data.skip === false) continue;
    const reason = typeof data.skip === 'string' ? data.skip : 'no reason given';
    const entry = byReason.get(reason) ?? { suites: 0, tests: 0, where: [] };
    if (data.details?.type === 'suite') entry.suites++;
    else entry.tests++;
    entry.where.push(`${data.file ? relative(process.cwd(), data.file) : '?'}: ${data.name}`);
    byReason.set(reason, entry);
  }
  if (byReason.size === 0) {
    yield '\n# skipped: nothing (every suite ran)\n';
    return;
  }
  const count = (n, what) => (n ? [`${n} ${what}${n === 1 ? '' : 's'}`] : []);
  const total = (key) => [...byReason.values()].reduce((sum, entry) => sum + entry[key], 0);
  const lines = [`# skipped: ${[...count(total('suites'), 'suite'), ...count(total('tests'), 'test')].join(' and ')} (the run passes without them):`];
  for (const [reason, entry] of byReason) {
    lines.push(`#   ${reason} (${[...count(entry.suites, 'suite'), ...count(entry.tests, 'test')].join(', ')})`);
    for (const where of entry.where) lines.push(`#     - ${where}`);
    lines.push(`#     to run: ${howToRun(reason) ?? 'see the reason above'}`);
  }
  yield `\n${lines.join('\n')}\n`;
}
