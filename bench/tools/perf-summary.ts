// Where a server's CPU goes, kernel included: a summary of a Linux `perf record -g` of the process.
// The V8 CPU profile (--profile) sees only the JS thread, and charges a syscall and the native work
// under a JS call to that call's self time; perf sees every thread and the kernel, and with
// `--perf-basic-prof` (a /tmp/perf-<pid>.map of JIT code) names the JS functions too.
//
//   BENCH_OURS_NODE_ARGS=--perf-basic-prof node --import tsx bench/paced.ts --rates 5000 --seconds 40 --warmup 2 --idle 0 --subjects ours &
//   sleep 22; perf record -F 1999 -g -p "$(pgrep -f 'build-worktree.*main.js' | head -1)" -o /tmp/perf.data -- sleep 10
//   perf script -i /tmp/perf.data -F ip,sym | node --import tsx bench/tools/perf-summary.ts
//
// Prints the top symbols by self samples, the samples by the first JS function on their stack (what
// JS work, with the builtins and natives it called, costs), the kernel's share by syscall, and who
// calls V8's hash-table builtins (Map and Set lookups, inserts). Stacks through libc lose their JS
// frames (no frame pointers there): a syscall's samples show under "(no JS frame)".
import { createInterface } from 'node:readline';

const TOP = 16;
const HASH_TABLE = /FindOrderedHash(Map|Set)Entry|MapPrototypeSet|SetPrototypeAdd|MapPrototypeDelete|SetPrototypeDelete|ComputeAndSetRawHash/;

const self = new Map<string, number>();
const firstJs = new Map<string, number>();
const syscalls = new Map<string, number>();
const hashCallers = new Map<string, number>();
let samples = 0;
let stack: string[] = [];

const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
/** `JS:*persist file:///…/store/memory/memory-store.js:36:12` → `persist memory-store.js:36`. */
const shortJs = (sym: string) => sym.replace(/^JS:[*~^]?/, '').replace(/ (file|node):\S*\/([^/]+?):(\d+):\d+$/, ' $2:$3').replace(/ node:(\S+?):(\d+):\d+$/, ' node:$1:$2');

function endSample(): void {
  if (stack.length === 0) return;
  samples++;
  const top = stack[0]!;
  add(self, top.startsWith('JS:') ? shortJs(top) : top);
  const js = stack.find((s) => s.startsWith('JS:'));
  add(firstJs, js ? shortJs(js) : '(no JS frame)');
  const syscall = [...stack].reverse().find((s) => s.startsWith('__x64_sys_'));
  if (syscall) add(syscalls, syscall.replace('__x64_sys_', ''));
  else if (stack.some((s) => /^(asm_|irq|pvm_)/.test(s)) && !js) add(syscalls, '(interrupts, no syscall)');
  if (HASH_TABLE.test(top)) add(hashCallers, `${top.replace(/^Builtins_|v8::internal::/g, '')} <- ${js ? shortJs(js) : '?'}`);
  stack = [];
}

for await (const line of createInterface({ input: process.stdin })) {
  const trimmed = line.trim();
  if (trimmed === '') {
    endSample();
    continue;
  }
  // `perf script -F ip,sym`: "<hex ip> <symbol>" per frame, innermost first.
  const space = trimmed.indexOf(' ');
  stack.push(space < 0 ? trimmed : trimmed.slice(space + 1));
}
endSample();

if (samples === 0) {
  console.error('no samples on stdin: pipe `perf script -F ip,sym` into this');
  process.exit(1);
}
const pct = (n: number) => `${((100 * n) / samples).toFixed(1)} %`;
const table = (title: string, m: Map<string, number>, top = TOP) => {
  console.log(`\n| ${title} | samples |\n| --- | ---: |`);
  for (const [k, n] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| \`${k.slice(0, 90)}\` | ${pct(n)} |`);
};
const kernel = [...syscalls.values()].reduce((a, b) => a + b, 0);
console.log(`${samples} samples; in syscalls or interrupts: ${pct(kernel)}`);
table('self (innermost frame)', self);
table('first JS function on the stack (its builtins and natives included)', firstJs);
table('kernel, by syscall', syscalls, 8);
table('hash-table builtins, by caller', hashCallers, 12);
