// Top allocating functions in a V8 .heapprofile (from bench/tools/heap-sample.mjs): bytes allocated
// by each function itself (inlined callees count as their caller's), and the total.
//
//   node --import tsx bench/tools/heapprofile-top.ts <file.heapprofile | directory> [--top 30]
//
// A directory means: the newest .heapprofile in it. Compare totals of runs with the same message count.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

function newest(target: string): string {
  if (!statSync(target).isDirectory()) return target;
  const files = readdirSync(target)
    .filter((f) => f.endsWith('.heapprofile'))
    .map((f) => join(target, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no .heapprofile in ${target}`);
  return files[0]!;
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 30;
const file = newest(args.find((a, i) => !a.startsWith('--') && i !== topAt + 1) ?? '.');
const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };

const bySite = new Map<string, number>();
let total = 0;
const stack = [head];
while (stack.length > 0) {
  const node = stack.pop()!;
  const { functionName, url, lineNumber } = node.callFrame;
  total += node.selfSize;
  if (node.selfSize > 0) {
    // Worktree builds (--compare) and dist/ alike read as src-relative paths.
    const where = url.replace(/^.*?\/(dist|src|node_modules|build-worktree-[^/]+)\//, '').replace(/^file:\/\//, '');
    const key = `${functionName || '(anonymous)'}  ${where}${where ? `:${lineNumber + 1}` : ''}`;
    bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
  }
  stack.push(...node.children);
}

console.log(`${file}\nallocated (sampled): ${(total / 1e6).toFixed(0)} MB\n`);
console.log('| MB | % | function (self) |\n| ---: | ---: | --- |');
for (const [key, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${(bytes / 1e6).toFixed(1)} | ${((100 * bytes) / total).toFixed(1)} | \`${key}\` |`);
}
