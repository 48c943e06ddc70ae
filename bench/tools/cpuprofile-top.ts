// Top functions by self time in a V8 .cpuprofile (from `node --cpu-prof`, or `--profile` on any
// benchmark), plus the same grouped by file and by package: the quick answer to "where does the
// time go" without opening DevTools.
//
//   node --import tsx bench/tools/cpuprofile-top.ts <file.cpuprofile | directory> [--top 30] [--match text]
//
// A directory means: the newest .cpuprofile in it. Percentages are of busy time (samples that were
// not "(idle)"); "total" counts a function once per sample in which it is anywhere on the stack.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  key: string;
  selfUs: number;
  totalUs: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  busyUs: number;
  idleUs: number;
  functions: Row[];
  files: Row[];
  packages: Row[];
}

/** Short, stable location: repository-relative paths, build directories folded into dist/. */
export function shortUrl(url: string): string {
  if (url === '') return '';
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/bench\/\.tmp\/build-worktree-[^/]+\//, 'dist/')
    .replace(/^.*\/bench\/\.tmp\/ref-[0-9a-f]+\/dist\//, 'dist@ref/')
    .replace(/^.*\/node_modules\//, 'node_modules/')
    .replace(/^\/work\/main\//, '');
}

function packageOf(url: string): string {
  const u = shortUrl(url);
  if (u === '') return '(native / V8)';
  if (u.startsWith('node:')) return 'node: (core)';
  const nm = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1]!;
  const ours = /^(dist(?:@ref)?|src|bench)\/([^/]+)\//.exec(u);
  if (ours) return `${ours[1]}/${ours[2]}/`;
  return u.split('/').slice(0, 2).join('/');
}

export function summarize(file: string): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const fnKey = (f: CallFrame) => {
    const name = f.functionName || '(anonymous)';
    return f.url === '' ? name : `${name}  ${shortUrl(f.url)}:${f.lineNumber + 1}`;
  };
  const fileKey = (f: CallFrame) => (f.url === '' ? `(${f.functionName || 'native'})` : shortUrl(f.url));

  const fns = new Map<string, Row>();
  const files = new Map<string, Row>();
  const pkgs = new Map<string, Row>();
  const add = (m: Map<string, Row>, key: string, self: number, total: number) => {
    let r = m.get(key);
    if (!r) m.set(key, (r = { key, selfUs: 0, totalUs: 0 }));
    r.selfUs += self;
    r.totalUs += total;
  };

  let busyUs = 0;
  let idleUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; the gap after it is the time the sample stands for.
    const dt = p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0;
    const leaf = byId.get(p.samples[i]!);
    if (!leaf) continue;
    if (leaf.callFrame.functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    busyUs += dt;
    add(fns, fnKey(leaf.callFrame), dt, 0);
    add(files, fileKey(leaf.callFrame), dt, 0);
    add(pkgs, packageOf(leaf.callFrame.url), dt, 0);
    // Inclusive time: each function/file/package once per sample, however deep the recursion.
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.functionName === '(root)') break;
      for (const [m, key] of [[fns, fnKey(f)], [files, fileKey(f)], [pkgs, packageOf(f.url)]] as const) {
        const tagged = `${m === fns ? 'f' : m === files ? 'F' : 'p'}${key}`;
        if (seen.has(tagged)) continue;
        seen.add(tagged);
        add(m, key, 0, dt);
      }
    }
  }
  const sorted = (m: Map<string, Row>) => [...m.values()].sort((a, b) => b.selfUs - a.selfUs);
  return { file, wallMs: (p.endTime - p.startTime) / 1000, busyUs, idleUs, functions: sorted(fns), files: sorted(files), packages: sorted(pkgs) };
}

export function renderSummary(s: ProfileSummary, top: number, match?: string): string {
  const pct = (us: number) => ((us / s.busyUs) * 100).toFixed(1).padStart(5);
  const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
  const table = (title: string, rows: Row[], n: number) => {
    const pick = (match ? rows.filter((r) => r.key.includes(match)) : rows).slice(0, n);
    return [`${title}`, '   self ms  self %  total %', ...pick.map((r) => `  ${ms(r.selfUs)}  ${pct(r.selfUs)}   ${pct(r.totalUs)}   ${r.key}`)].join('\n');
  };
  return [
    `${s.file}`,
    `wall ${(s.wallMs / 1000).toFixed(1)} s, busy ${(s.busyUs / 1e6).toFixed(2)} s, idle ${(s.idleUs / 1e6).toFixed(2)} s (percentages are of busy time)`,
    '',
    table(`Top ${top} functions by self time`, s.functions, top),
    '',
    table('By package / source folder', s.packages, 15),
    '',
    table('By file', s.files, 15),
  ].join('\n');
}

/** A profile named on the command line: the file, or the newest one (by `extension`) in a directory. */
export function profileFile(target: string, extension = '.cpuprofile'): string {
  return statSync(target).isDirectory() ? newestProfile(target, extension) : target;
}

/** The newest file ending in `extension` (a .cpuprofile unless said) in a directory. */
export function newestProfile(dir: string, extension = '.cpuprofile'): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(extension))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no ${extension} in ${dir}`);
  return files[0]!;
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('cpuprofile-top.ts') || entry.endsWith('cpuprofile-top.js')) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const top = Number(opt('top') ?? 30);
  const match = opt('match');
  const target = args[0];
  if (!target) {
    console.error('usage: cpuprofile-top.ts <file.cpuprofile | directory> [--top 30] [--match text]');
    process.exit(2);
  }
  console.log(renderSummary(summarize(profileFile(target)), top, match));
}
