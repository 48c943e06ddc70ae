// docs/client.md's complete example, run as written: the block annotated
// `<!-- client-doc: run, prints <text> -->` is saved under .cache/ and run by node against a test
// server on a free port (the block reads PORT), with `uws-chat-backend/client` resolved to the source
// tree (test/helpers/sdk-resolve.mjs), so no build is needed. It must exit 0 and print <text>.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRATCH = join(ROOT, '.cache/client-doc'); // inside the package (git-ignored), so `ws` resolves

function runnableBlocks(markdown: string): { line: number; code: string; prints: string }[] {
  const lines = markdown.split('\n');
  const found = [];
  for (let i = 1; i < lines.length; i++) {
    const how = /^<!-- client-doc: run, prints (.+) -->$/.exec(lines[i - 1]!.trim());
    if (!how || !/^```(js|ts)\s*$/.test(lines[i]!)) continue;
    const end = lines.findIndex((line, j) => j > i && /^```\s*$/.test(line));
    assert.ok(end > i, `docs/client.md:${i + 1}: unclosed block`);
    found.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), prints: how[1]! });
  }
  return found;
}

describe('docs/client.md, run as written', { timeout: 90_000 }, () => {
  it('runs the complete example against a real server and prints what the doc says', async (t) => {
    const blocks = runnableBlocks(readFileSync(join(ROOT, 'docs/client.md'), 'utf8'));
    assert.equal(blocks.length, 1, 'one complete example, annotated to run');
    const server = await startTestServer();
    try {
      mkdirSync(SCRATCH, { recursive: true });
      for (const block of blocks) {
        const file = join(SCRATCH, `example-${block.line}.mjs`);
        writeFileSync(file, block.code);
        const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/helpers/sdk-resolve.mjs', file], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(server.server.port) },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
        t.diagnostic(out.trim());
        assert.equal(code, 0, `docs/client.md:${block.line} failed:\n${out}`);
        assert.ok(out.includes(block.prints), `docs/client.md:${block.line} did not print ${block.prints}:\n${out}`);
        assert.match(out, /ann sees bob read up to 1/);
        assert.match(out, /history: 1 ann: hello team/);
      }
    } finally {
      await server.close();
    }
  });
});
