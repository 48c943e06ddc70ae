// The README's commands, run as written. Every shell or JavaScript block carries an annotation on the
// line before it: `<!-- readme: run[ as <file>][, prints <text>] -->` (run here, in order, from the
// repository root, on a free PORT, and its output must contain <text>) or `<!-- readme: skip: <why> -->`
// (needs what a test machine lacks, or another check runs it: the why names it). A block without one
// fails, so a new snippet cannot slip in untested. The blocks start the server themselves (once: "Try
// it"); the test only picks the port, through the PORT variable the blocks read.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/net.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRATCH = join(ROOT, '.cache/readme'); // inside the package (git-ignored): `uws-chat-backend/client` resolves to this checkout

interface Block {
  readonly line: number;
  readonly lang: string;
  readonly code: string;
  readonly annotation: string | undefined;
}

/** Fenced blocks (any indentation) with the annotation comment on the line before, if any. */
function blocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const end = lines.findIndex((line, j) => j > i && /^\s*```\s*$/.test(line));
    assert.ok(end > i, `README.md:${i + 1}: unclosed code block`);
    const annotation = /^\s*<!-- readme: (.*) -->\s*$/.exec(lines[i - 1] ?? '')?.[1];
    found.push({ line: i + 1, lang: open[2]!, code: lines.slice(i + 1, end).map((line) => line.slice(indent)).join('\n'), annotation });
    i = end;
  }
  return found;
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const RUNNABLE = new Set(['bash', 'sh', 'js', 'ts']);
const snippets = blocks(README).filter((block) => RUNNABLE.has(block.lang));

describe('README.md, run as written', { timeout: 180_000 }, () => {
  const groups: number[] = [];
  after(() => {
    // The background server of "Try it" lives in the process group of the block that started it.
    for (const group of groups) {
      try {
        process.kill(-group, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });

  it('annotates every shell and JavaScript block (run or skip: why)', () => {
    for (const block of snippets) {
      assert.match(block.annotation ?? '', /^(run( as [\w.-]+)?(, prints .+)?|skip: .+)$/, `README.md:${block.line}: a ${block.lang} block without <!-- readme: run … --> or <!-- readme: skip: why --> before it`);
    }
    assert.ok(snippets.some((block) => block.annotation?.startsWith('run')), 'no block to run');
  });

  it('starts the server in one block only (a second server on the port would be refused)', () => {
    const starts = snippets.filter((block) => block.lang !== 'js' && /\bnpm (run )?start\b(?!:)/.test(block.code));
    assert.deepEqual(starts.map((block) => block.line), [snippets.find((block) => block.annotation?.startsWith('run'))!.line]);
  });

  it('runs the runnable blocks in order against the server the first one starts, on a free port', async (t) => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(await freePort()) };
    mkdirSync(SCRATCH, { recursive: true });
    for (const block of snippets) {
      const how = /^run(?: as ([\w.-]+))?(?:, prints (.+))?$/.exec(block.annotation ?? '');
      if (!how) continue;
      const [, file, prints] = how;
      let command: string, args: string[];
      if (block.lang === 'js' || block.lang === 'ts') {
        const path = join(SCRATCH, file ?? `block-${block.line}.mjs`);
        writeFileSync(path, block.code);
        [command, args] = [process.execPath, [path]];
      } else {
        [command, args] = ['bash', ['-c', `set -eo pipefail\n${block.code}`]];
      }
      const child = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      groups.push(child.pid!);
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      // 'exit', not 'close': a block may leave the server running in the background, holding the pipes.
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      t.diagnostic(`README.md:${block.line} (${block.lang}) exited ${code}`);
      assert.equal(code, 0, `README.md:${block.line} failed:\n${block.code}\n--- output ---\n${out}`);
      if (prints) assert.ok(out.includes(prints), `README.md:${block.line} did not print ${prints}:\n${out}`);
    }
  });
});
