// Every environment variable is declared once (src/config-specs.ts) and documented in README.md's
// configuration table: the two must name the same variables.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ENV_SPECS } from '../../src/config-specs.js';

/** The variables named in the first column of README's "Configuration" table. */
function readmeVariables(): Set<string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const firstCell = /^\|([^|]*)\|/.exec(line)?.[1] ?? '';
    for (const match of firstCell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(match[1]!);
  }
  return names;
}

describe('environment variables', () => {
  it('README documents exactly the variables ENV_SPECS declares', () => {
    const documented = readmeVariables();
    const declared = new Set(Object.keys(ENV_SPECS));
    assert.deepEqual([...declared].filter((name) => !documented.has(name)).sort(), [], 'declared but not in README');
    assert.deepEqual([...documented].filter((name) => !declared.has(name)).sort(), [], 'in README but not declared');
  });
});
