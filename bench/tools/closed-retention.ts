// "Memory comes back" (issue 16): is state retained per closed connection, or per user ever seen, or
// does the reading race the GC? Starts our server with the inspector, and between rounds of
// open-all/close-all forces a full GC and takes a heap snapshot through it; prints the difference
// of live objects by constructor per connection, and RSS/heap after the forced GC.
//
//   node --import tsx bench/tools/closed-retention.ts [--connections 2000] [--source] [--keep dir] [--more-rounds K]
//   --more-rounds K: then K more rounds of the same users A, RSS and heap after a forced GC each (no
//   snapshots): does RSS keep growing per round (a leak) or level off (the allocator's high-water mark)?
//
// Rounds: warm-up (200 connections, closed) → S0; N users A open+close → S1; the same N users A
// again → S2; N new users B → S3. S2 − S1 is what a closed connection leaves behind (the same users
// reconnect: nothing per user is new); S3 − S2 is what a user seen for the first time leaves behind
// (the 'memory comes back' figure of bench/connections.ts opens new users in every cycle, so it
// measures this). --keep writes the snapshots (.heapsnapshot, open in Chrome DevTools → Memory).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Args } from '../lib/cli.js';
import { signTestToken } from '../lib/jwt.js';
import { openRawWs, type RawWs } from '../lib/raw-ws.js';
import { BENCH_JWT_SECRET, prepareOurServer } from '../lib/servers.js';
import { startOurServerInspected } from '../lib/inspector.js';
import { readProcMem } from '../lib/proc-cpu.js';

const args = new Args(process.argv.slice(2));
const N = args.num('connections', 2000);
const keep = args.str('keep');
const moreRounds = args.num('more-rounds', 0);
const log = (m: string) => process.stderr.write(`[retention ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

// ── heap snapshot: live objects by (type, constructor) ──
interface Tally {
  count: number;
  bytes: number;
}
function tally(json: string): Map<string, Tally> {
  const s = JSON.parse(json) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, Tally>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!;
    // Strings and numbers by type only (their "name" is the value); objects and closures by constructor/function.
    const name = type === 'object' || type === 'closure' || type === 'native' ? s.strings[s.nodes[i + iName]!]!.slice(0, 60) : '';
    const key = `${type}${name ? `:${name}` : ''}`;
    let t = out.get(key);
    if (!t) out.set(key, (t = { count: 0, bytes: 0 }));
    t.count++;
    t.bytes += s.nodes[i + iSize]!;
  }
  return out;
}

/**
 * Objects in `after` that were not in `before` (node ids are stable within one process), grouped by
 * the chain of their retainers (edge names and owner constructors, three levels up): who holds them.
 */
function retainers(before: string, after: string, per: number, top = 20): string {
  type Snap = { snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } }; nodes: number[]; edges: number[]; strings: string[] };
  const ids = new Set<number>();
  {
    const a = JSON.parse(before) as Snap;
    const w = a.snapshot.meta.node_fields.length;
    const iId = a.snapshot.meta.node_fields.indexOf('id');
    for (let i = 0; i < a.nodes.length; i += w) ids.add(a.nodes[i + iId]!);
  }
  const b = JSON.parse(after) as Snap;
  const nf = b.snapshot.meta.node_fields;
  const w = nf.length;
  const [iType, iName, iId, iEdges] = ['type', 'name', 'id', 'edge_count'].map((k) => nf.indexOf(k)) as [number, number, number, number];
  const ef = b.snapshot.meta.edge_fields;
  const ew = ef.length;
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((k) => ef.indexOf(k)) as [number, number, number];
  const ntypes = b.snapshot.meta.node_types[0];
  const etypes = b.snapshot.meta.edge_types[0];
  const count = b.nodes.length / w;
  const parent: number[][] = Array.from({ length: count }, () => []);
  const parentEdge: string[][] = Array.from({ length: count }, () => []);
  let e = 0;
  for (let n = 0; n < count; n++) {
    const edges = b.nodes[n * w + iEdges]!;
    for (let k = 0; k < edges; k++, e += ew) {
      const t = etypes[b.edges[e + eType]!]!;
      if (t === 'weak' || t === 'shortcut') continue;
      const to = b.edges[e + eTo]! / w;
      const nameOrIndex = b.edges[e + eName]!;
      parent[to]!.push(n);
      parentEdge[to]!.push(t === 'element' || t === 'hidden' ? `[${nameOrIndex}]` : String(b.strings[nameOrIndex]).slice(0, 30));
    }
  }
  const label = (n: number) => {
    const t = ntypes[b.nodes[n * w + iType]!]!;
    const name = b.strings[b.nodes[n * w + iName]!]!;
    return t === 'object' || t === 'closure' ? `${name.slice(0, 40)}` : t === 'string' || t === 'concatenated string' || t === 'sliced string' ? `"${name.slice(0, 24)}…"` : `(${t})`;
  };
  const paths = new Map<string, number>();
  for (let n = 0; n < count; n++) {
    if (ids.has(b.nodes[n * w + iId]!)) continue;
    const t = ntypes[b.nodes[n * w + iType]!]!;
    if (t === "hidden" || t === "code" || t === "synthetic" || t === "object shape" || t === "native") continue;
    // Up the first retainer three times; new retainers are followed too (they are part of the chain).
    let at = n;
    const chain: string[] = [`${t === 'object' ? 'Object ' : ''}${label(n).replace(/"[^"]*"/, '"…"')}`];
    for (let d = 0; d < 4; d++) {
      const ps = parent[at]!;
      if (ps.length === 0) break;
      const p = ps[0]!;
      chain.push(`${label(p)}.${parentEdge[at]![0]}`);
      at = p;
    }
    const key = chain.join(' ⟵ ').replace(/ret-[a-z0-9]+-[abw]\d+/g, '<user>').replace(/\[\d+\]/g, '[i]');
    paths.set(key, (paths.get(key) ?? 0) + 1);
  }
  return [...paths.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([k, c]) => `- ${(c / per).toFixed(2)}/conn: ${k}`)
    .join('\n');
}

function diff(a: Map<string, Tally>, b: Map<string, Tally>, per: number, top = 25): string {
  const rows: [string, number, number][] = [];
  for (const [k, t] of b) {
    const o = a.get(k) ?? { count: 0, bytes: 0 };
    rows.push([k, t.count - o.count, t.bytes - o.bytes]);
  }
  for (const [k, o] of a) if (!b.has(k)) rows.push([k, -o.count, -o.bytes]);
  rows.sort((x, y) => Math.abs(y[2]) - Math.abs(x[2]));
  const total = rows.reduce((s, r) => s + r[2], 0);
  const lines = rows.slice(0, top).map(([k, c, by]) => `| \`${k}\` | ${(c / per).toFixed(2)} | ${(by / per).toFixed(0)} |`);
  return [`total: ${(total / per).toFixed(0)} B per connection (${rows.reduce((s, r) => s + r[1], 0)} objects)`, '', '| type:constructor | objects / conn | bytes / conn |', '| --- | ---: | ---: |', ...lines].join('\n');
}

// ── connections ──
async function openClose(port: number, users: string[]): Promise<void> {
  const tokens = await Promise.all(users.map((u) => signTestToken(u, BENCH_JWT_SECRET)));
  const conns: RawWs[] = [];
  for (let i = 0; i < users.length; i += 200) {
    const batch = await Promise.all(
      tokens.slice(i, i + 200).map((token, k) => openRawWs({ host: '127.0.0.1', port, path: '/ws', localAddress: `127.0.0.${2 + ((i + k) % 8)}`, token, timeoutMs: 30_000 }, () => {})),
    );
    conns.push(...batch);
  }
  for (let i = 0; i < conns.length; i += 500) await Promise.all(conns.slice(i, i + 500).map((c) => c.close(2000)));
  await new Promise((r) => setTimeout(r, 500));
}

const build = prepareOurServer({ fromSource: args.has('source') });
const { server, inspector: insp } = await startOurServerInspected(build);
const stage: { name: string; rss: number; heap: number; mem: NodeJS.MemoryUsage; snap: Map<string, Tally>; json: string }[] = [];
const measure = async (name: string) => {
  await insp.gc();
  const mem = await insp.memory();
  const heap = mem.heapUsed;
  const rss = readProcMem(server.pid).rssBytes;
  const json = await insp.snapshot();
  if (keep) {
    mkdirSync(keep, { recursive: true });
    writeFileSync(join(keep, `${name}.heapsnapshot`), json);
  }
  stage.push({ name, rss, heap, mem, snap: tally(json), json });
  const mib = (b: number) => (b / 1048576).toFixed(1);
  log(`${name}: after GC: RSS ${mib(rss)} MiB, V8 heap used ${mib(heap)} / committed ${mib(mem.heapTotal)}, external ${mib(mem.external)} (array buffers ${mib(mem.arrayBuffers)}) MiB`);
};
try {
  const tag = Math.random().toString(36).slice(2, 8);
  const usersA = Array.from({ length: N }, (_, i) => `ret-${tag}-a${i}`);
  const usersB = Array.from({ length: N }, (_, i) => `ret-${tag}-b${i}`);
  await openClose(server.port, Array.from({ length: 200 }, (_, i) => `ret-${tag}-w${i}`));
  await measure('S0 after warm-up');
  await openClose(server.port, usersA);
  await measure('S1 after N users A');
  await openClose(server.port, usersA);
  await measure('S2 after the same N users A again');
  await openClose(server.port, usersB);
  await measure('S3 after N new users B');
  const [s0, s1, s2, s3] = stage as [typeof stage[0], typeof stage[0], typeof stage[0], typeof stage[0]];
  const kb = (b: number) => (b / N / 1024).toFixed(2);
  console.log(`# Retention after close, N=${N} connections per round, forced GC before every reading (${build.describe})\n`);
  console.log('| step | V8 heap used after GC, KB/conn | V8 heap committed | external | RSS, KB/conn | RSS outside the V8 heap and external |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const row = (label: string, a: (typeof stage)[0], b: (typeof stage)[0]) =>
    console.log(`| ${label} | ${kb(b.heap - a.heap)} | ${kb(b.mem.heapTotal - a.mem.heapTotal)} | ${kb(b.mem.external - a.mem.external)} | ${kb(b.rss - a.rss)} | ${kb(b.rss - a.rss - (b.mem.heapTotal - a.mem.heapTotal) - (b.mem.external - a.mem.external))} |`);
  row('first N users (S1 − S0)', s0, s1);
  row('the same users reconnect (S2 − S1): per closed connection', s1, s2);
  row('N new users (S3 − S2): per user seen once', s2, s3);
  console.log(`\n## Live objects, same users reconnecting (S2 − S1), per connection\n\n${diff(s1.snap, s2.snap, N)}`);
  console.log(`\nNew objects by retainer chain (S2 − S1):\n\n${retainers(s1.json, s2.json, N)}`);
  console.log(`\n## Live objects, new users (S3 − S2), per user\n\n${diff(s2.snap, s3.snap, N)}`);
  console.log(`\nNew objects by retainer chain (S3 − S2):\n\n${retainers(s2.json, s3.json, N)}`);
  if (moreRounds > 0) {
    console.log(`\n## ${moreRounds} more rounds of the same users A (after a forced GC each)\n\n| round | RSS MiB | V8 heap used MiB | RSS growth over the previous round, KB/conn |\n| --- | ---: | ---: | ---: |`);
    let prev = s3.rss;
    for (let k = 1; k <= moreRounds; k++) {
      await openClose(server.port, usersA);
      await insp.gc();
      const m = await insp.memory();
      const rss = readProcMem(server.pid).rssBytes;
      console.log(`| ${k} | ${(rss / 1048576).toFixed(1)} | ${(m.heapUsed / 1048576).toFixed(1)} | ${kb(rss - prev)} |`);
      prev = rss;
    }
  }
} finally {
  insp.close();
  await server.stop(5000);
}
process.exit(0);
