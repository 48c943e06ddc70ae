// Where the instructions of a chat cycle go, by function: reads a main-thread dump that
// cycle-instructions.ts kept, and names V8's generated code through the perf map node wrote
// (`--perf-basic-prof`). Callgrind itself names only functions with symbols (node's C++ and builtins,
// uWS, libc); JavaScript compiled by V8 shows as bare addresses, which the map turns into `JS:*name
// file:line`. Prints self instructions per cycle by object and by function, and who calls the
// functions named with --callers (inclusive instructions per call site).
//
//   node --import tsx bench/tools/cycle-instructions.ts --rounds 1 --keep \
//     "--node-flags=--single-threaded --no-memory-reducer --perf-basic-prof"
//   node --import tsx bench/tools/callgrind-functions.ts <the dump dir it printed> [--cycles 6000] [--top 40]
//     [--callers Builtins_FindOrderedHashMapEntry,Builtins_CopyDataProperties]
//
// The perf map is /tmp/perf-<pid>.map, the pid read from the dump. An address the map does not cover
// stays an address (code V8 freed before the dump).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    cycles: { type: 'string', default: '6000' },
    top: { type: 'string', default: '40' },
    callers: { type: 'string', default: '' },
  },
});
if (positionals.length !== 1) throw new Error('usage: callgrind-functions.ts <dump dir> [--cycles N] [--top N] [--callers a,b]');
const dumpPath = join(positionals[0]!, 'out.1-01');
const cycles = Number(args.cycles);
const top = Number(args.top);
const callerTargets = args.callers ? args.callers.split(',') : [];

const text = readFileSync(dumpPath, 'utf8');
const pid = /^pid: (\d+)/m.exec(text)?.[1];
if (!pid) throw new Error(`${dumpPath}: no pid line`);

/** [start, size, name], sorted by start, for a binary search. */
const perfMap = readFileSync(`/tmp/perf-${pid}.map`, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line): [number, number, string] => {
    const [start, size, ...name] = line.split(' ');
    return [parseInt(start!, 16), parseInt(size!, 16), name.join(' ').replace(/file:\/\/\/\S*?\/(build-worktree-[^/]+|work\/main)\//, '')];
  })
  .sort((a, b) => a[0] - b[0]);

/** The map's entry covering an address (the last one written wins where V8 reused the space). */
function nameOf(fn: string): string {
  if (!fn.startsWith('0x')) return fn;
  const address = parseInt(fn, 16);
  let lo = 0;
  let hi = perfMap.length - 1;
  let found: string | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (perfMap[mid]![0] <= address) {
      lo = mid + 1;
      if (address < perfMap[mid]![0] + perfMap[mid]![1]) found = perfMap[mid]![2];
    } else hi = mid - 1;
  }
  return found ?? fn;
}

// The callgrind format compresses names: `fn=(12) name` defines id 12, `fn=(12)` refers to it.
const names = { ob: new Map<string, string>(), fn: new Map<string, string>() };
function named(kind: 'ob' | 'fn', spec: string): string {
  const m = /^\((\d+)\)(?: (.*))?$/.exec(spec);
  if (!m) return spec;
  if (m[2] !== undefined) names[kind].set(m[1]!, m[2]);
  return names[kind].get(m[1]!) ?? `(${m[1]})`;
}

const selfByObject = new Map<string, number>();
const selfByFunction = new Map<string, number>();
const callers = new Map<string, number>();
let object = '';
let fn = '';
let callee = '';
let callLine = false;
for (const line of text.split('\n')) {
  if (line.startsWith('ob=')) object = named('ob', line.slice(3));
  else if (line.startsWith('cob=')) named('ob', line.slice(4));
  else if (line.startsWith('fn=')) fn = named('fn', line.slice(3));
  else if (line.startsWith('cfn=')) callee = named('fn', line.slice(4));
  else if (line.startsWith('calls=')) callLine = true;
  else if (/^[0-9+\-*]/.test(line)) {
    const cost = Number(line.split(' ')[1] ?? 0);
    if (callLine) {
      // The line after calls= is the call's inclusive cost, not the caller's own.
      callLine = false;
      const target = callerTargets.find((t) => callee.startsWith(t));
      if (target) add(callers, `${target} <- ${nameOf(fn)}`, cost);
      continue;
    }
    add(selfByObject, object.split('/').pop() || '???', cost);
    add(selfByFunction, nameOf(fn), cost);
  }
}

function add(map: Map<string, number>, key: string, cost: number): void {
  map.set(key, (map.get(key) ?? 0) + cost);
}

const total = [...selfByObject.values()].reduce((a, b) => a + b, 0);
function print(title: string, map: Map<string, number>, limit: number): void {
  console.log(`\n| ${title} | instructions per cycle | share |\n| --- | ---: | ---: |`);
  for (const [key, cost] of [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    console.log(`| \`${key.slice(0, 140)}\` | ${Math.round(cost / cycles)} | ${((100 * cost) / total).toFixed(1)} % |`);
  }
}
console.log(`${dumpPath}: ${Math.round(total / cycles)} instructions per cycle (self, main thread), ${cycles} cycles`);
// V8's optimising compilers inside the measured window: the JIT had not settled when the counters were
// zeroed (a few late compilations weigh thousands per cycle here), so the count is not yet the code's.
let compiling = 0;
for (const [name, cost] of selfByFunction) if (/v8::internal::(compiler|maglev|turboshaft)::/.test(name)) compiling += cost;
console.log(
  `of which V8's optimising compilers: ${Math.round(compiling / cycles)} per cycle (${((100 * compiling) / total).toFixed(1)} %)` +
    (compiling / total > 0.02 ? ': the JIT was still compiling in the measured window; a longer --warm gives the code\'s own count' : ''),
);
print('object (self)', selfByObject, 10);
print('function (self)', selfByFunction, top);
if (callerTargets.length) print('callee <- caller (inclusive)', callers, top);
