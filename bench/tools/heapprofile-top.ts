// Top allocating functions in a V8 .heapprofile (from bench/tools/heap-sample.mjs): bytes allocated
// by each function itself (inlined callees count as their caller's), and the total.
//
//   node --import tsx bench/tools/heapprofile-top.ts <file.heapprofile | directory> [--top 30]
//
// A directory means: the newest .heapprofile in it. Compare totals of runs with the same message count.
import { readFileSync } from 'node:fs';
import { profileFile, shortUrl } from './cpuprofile-top.js';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 30;
const file = profileFile(args.find((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1)) ?? '.', '.heapprofile');
const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };

const bySite = new Map<string, number>();
let total = 0;
const stack = [head];
while (stack.length > 0) {
  const node = stack.pop()!;
  const { functionName, url, lineNumber } = node.callFrame;
  total += node.selfSize;
  if (node.selfSize > 0) {
    const where = shortUrl(url);
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
