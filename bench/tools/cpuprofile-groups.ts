// Where a server's time goes, in the groups issue 16 asks about: uWS/cork/flush, promise chains,
// timers, histograms (metrics), JSON, our chat code, store, … from a V8 .cpuprofile.
//
//   node --import tsx bench/tools/cpuprofile-groups.ts <file.cpuprofile | directory> [--messages N] [--top 12]
//
// Each sample goes to one group by its leaf frame (self time), except that samples whose stack passes
// through module loading (startup) or a connection's upgrade/open/close are set apart first: a paced
// benchmark's profile also holds the start and the connects, which are not per-message work.
// --messages N (messages completed while profiling) adds µs per message per group. Within each
// group the top leaf functions are listed, so a reader can check the rule that put them there.

import { readFileSync } from 'node:fs';
import { profileFile, shortUrl, type CallFrame, type CpuProfile, type ProfileNode } from './cpuprofile-top.js';

/** Set apart before grouping: whole stacks that are not per-message work. */
function setApart(stack: CallFrame[]): string | undefined {
  for (const f of stack) {
    const u = f.url;
    if (u.startsWith('node:internal/modules') || f.functionName === 'compileSourceTextModule' || f.functionName === 'wrapSafe') return 'startup (module loading)';
  }
  for (const f of stack) {
    const u = shortUrl(f.url);
    if (/transport\/websocket\.[jt]s$/.test(u) && /^(upgrade|open|close)$/.test(f.functionName)) return `connects (${f.functionName})`;
    if (u.includes('fast-jwt') || u.includes('dist/auth/') || u.includes('src/auth/')) return 'connects (JWT)';
  }
  return undefined;
}

/** The group of a sample by its leaf frame (and, for anonymous frames, its file). */
function group(leaf: CallFrame, stack: CallFrame[]): string {
  const name = leaf.functionName;
  const u = shortUrl(leaf.url);
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return '(program): native uWS loop, epoll, unattributed';
  if (u.includes('prom-client') || /\/metrics\//.test(u)) return 'metrics: prom-client histograms, counters';
  if (u.includes('pino') || /\/log\.[jt]s$/.test(u)) return 'logging';
  if (/\/transport\/connection\.[jt]s$/.test(u)) return 'uWS cork/send/flush (transport/connection: outbox, cork callback, native send)';
  if (u === '' && /^(cork|send|end|getBufferedAmount|write|writeStatus|writeHeader|close|subscribe|publish)$/.test(name)) return 'uWS cork/send/flush (transport/connection: outbox, cork callback, native send)';
  if (u.startsWith('node:internal/timers') || /^(setTimeout|setImmediate|clearTimeout|clearImmediate|setInterval|Timeout|Immediate|insert|unrefActive)$/.test(name)) return 'timers (setTimeout/setImmediate machinery)';
  if (u.startsWith('node:internal/process/task_queues') || /^(runMicrotasks|processTicksAndRejections|Promise|then|resolve|reject|PromiseResolveThenableJob|queueMicrotask|AsyncFunctionAwaitResolveClosure)$/.test(name))
    return 'promise chains / microtasks';
  if (u === '' && /^(parse|stringify)$/.test(name)) return 'JSON (parse/stringify builtins)';
  if (/\/protocol\//.test(u)) return 'JSON/protocol (protocol/: parse + validate, encode)';
  if (/\/chat\//.test(u)) return 'our chat code (chat/)';
  if (/\/store\//.test(u)) return 'store (memory store, cursors)';
  if (/\/transport\//.test(u)) return 'transport other (websocket.js handlers, http)';
  if (u.includes('lru-cache')) return 'lru-cache';
  if (u.startsWith('node:')) return `node core (${u.replace(/^node:internal\//, '').split('/')[0]})`;
  if (u === '') {
    // A native leaf called from one of our files belongs to that file's group.
    for (let i = stack.length - 2; i >= 0; i--) {
      const parent = stack[i]!;
      if (parent.url !== '') return group(parent, stack.slice(0, i + 1));
    }
    return `native (${name})`;
  }
  return `other (${u.split('/').slice(0, 3).join('/')})`;
}

export interface GroupRow {
  group: string;
  us: number;
  leaves: Map<string, number>;
}

/**
 * Which kind of wake-up a sample's work ran in, from its outermost frame: V8 runs the continuation of
 * an `await` as a microtask from the native loop, so a stack that starts in our own code (not in a
 * uWS callback or a Node timer) is work resumed after an await: the promise chains' share.
 */
const ENTRIES: [string, (f: CallFrame) => boolean][] = [
  ['uWS frame callback (`message` handler, synchronous part)', (f) => f.functionName === 'message' && /transport\/websocket\.[jt]s$/.test(f.url)],
  ['setImmediate callbacks (processImmediate: the outbox flush, signals)', (f) => f.functionName === 'processImmediate'],
  ['timer callbacks (processTimers)', (f) => f.functionName === 'processTimers' || f.functionName === 'listOnTimeout'],
  ['promise continuations (async functions resumed after an await, run as microtasks)', (f) => /^(processTicksAndRejections|runMicrotasks)$/.test(f.functionName) || /\/(dist|src|build-worktree-[^/]+)\//.test(f.url) || /node_modules\/(lru-cache|prom-client)/.test(f.url)],
  ['GC and the native loop', (f) => f.functionName === '(garbage collector)' || f.functionName === '(program)'],
];

export function groupProfile(file: string): { busyUs: number; apart: GroupRow[]; groups: GroupRow[]; wallMs: number; entries: [string, number][] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const stacks = new Map<number, CallFrame[]>();
  const stackOf = (id: number): CallFrame[] => {
    let s = stacks.get(id);
    if (s) return s;
    s = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (f.functionName === '(root)') break;
      s.unshift(f);
    }
    stacks.set(id, s);
    return s;
  };
  const rows = new Map<string, GroupRow>();
  const apartRows = new Map<string, GroupRow>();
  let busyUs = 0;
  const entryUs = ENTRIES.map(() => 0);
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0;
    const node = byId.get(p.samples[i]!);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const stack = stackOf(node.id);
    const leaf = node.callFrame;
    const apart = setApart(stack);
    const g = apart ?? group(leaf, stack);
    const m = apart ? apartRows : rows;
    let r = m.get(g);
    if (!r) m.set(g, (r = { group: g, us: 0, leaves: new Map() }));
    r.us += dt;
    const lk = `${leaf.functionName || '(anonymous)'}${leaf.url ? `  ${shortUrl(leaf.url)}:${leaf.lineNumber + 1}` : ''}`;
    r.leaves.set(lk, (r.leaves.get(lk) ?? 0) + dt);
    if (!apart) {
      busyUs += dt;
      const k = ENTRIES.findIndex(([, m]) => m(stack[0]!));
      if (k >= 0) entryUs[k]! += dt;
    }
  }
  const sorted = (m: Map<string, GroupRow>) => [...m.values()].sort((a, b) => b.us - a.us);
  return { busyUs, apart: sorted(apartRows), groups: sorted(rows), wallMs: (p.endTime - p.startTime) / 1000, entries: ENTRIES.map(([n], i) => [n, entryUs[i]!]) };
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('cpuprofile-groups.ts') || entry.endsWith('cpuprofile-groups.js')) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const messages = Number(opt('messages') ?? NaN);
  const top = Number(opt('top') ?? 4);
  const target = args[0];
  if (!target) {
    console.error('usage: cpuprofile-groups.ts <file.cpuprofile | directory> [--messages N] [--top 4]');
    process.exit(2);
  }
  const file = profileFile(target);
  const r = groupProfile(file);
  const apartUs = r.apart.reduce((s, x) => s + x.us, 0);
  console.log(`${file}\nwall ${(r.wallMs / 1000).toFixed(1)} s; per-message work ${(r.busyUs / 1e6).toFixed(2)} s busy; set apart ${(apartUs / 1e6).toFixed(2)} s (${r.apart.map((a) => `${a.group} ${(a.us / 1e6).toFixed(2)} s`).join(', ')})\n`);
  console.log(`| group | self ms | % of per-message work |${Number.isFinite(messages) ? ' µs/msg |' : ''} top leaves (self ms) |`);
  console.log(`| --- | ---: | ---: |${Number.isFinite(messages) ? ' ---: |' : ''} --- |`);
  for (const g of r.groups) {
    const leaves = [...g.leaves.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `\`${k}\` ${(us / 1000).toFixed(0)}`).join('; ');
    console.log(`| ${g.group} | ${(g.us / 1000).toFixed(0)} | ${((g.us / r.busyUs) * 100).toFixed(1)} |${Number.isFinite(messages) ? ` ${(g.us / messages).toFixed(1)} |` : ''} ${leaves} |`);
  }
  console.log('\nBy the kind of wake-up the work ran in (inclusive, outermost entry):\n');
  console.log(`| entry | ms | % of per-message work |${Number.isFinite(messages) ? ' µs/msg |' : ''}`);
  console.log(`| --- | ---: | ---: |${Number.isFinite(messages) ? ' ---: |' : ''}`);
  const unattributed = r.busyUs - r.entries.reduce((s, [, us]) => s + us, 0);
  for (const [n, us] of [...r.entries, ['other (Node streams, fs, …)', unattributed] as [string, number]]) {
    console.log(`| ${n} | ${(us / 1000).toFixed(0)} | ${((us / r.busyUs) * 100).toFixed(1)} |${Number.isFinite(messages) ? ` ${(us / messages).toFixed(1)} |` : ''}`);
  }
}
