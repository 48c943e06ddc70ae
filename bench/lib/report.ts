// What every benchmark returns, and how it becomes Markdown: one summary table (each figure of ours
// beside its baseline, the ratio, the target) and one detail table per benchmark.

import type { MachineInfo } from './machine.js';
import { machineLine } from './machine.js';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The same figure for a baseline measured in the same run, and the ratio ours / baseline. */
  baseline?: { name: string; value: number };
  target?: { text: string; met: boolean };
  /** CPU used by processes other than the server and the generator during the window (% of one core). */
  otherCorePct?: number;
}

export interface DetailTable {
  title?: string;
  headers: string[];
  rows: (string | number)[][];
}

export interface BenchResult {
  bench: string;
  title: string;
  /** Sizes, durations, settings: enough to repeat the run. */
  params: string;
  figures: Figure[];
  details: DetailTable[];
  /** Errors, lost or duplicated messages: any of these fails the run. */
  problems: string[];
  notes: string[];
  /** Output of an external script, shown as is (Markdown). */
  verbatim?: string;
  raw: unknown;
}

export function newResult(bench: string, title: string, params: string): BenchResult {
  return { bench, title, params, figures: [], details: [], problems: [], notes: [], raw: {} };
}

/** Rounds for display: 3 significant digits below 100, whole numbers above. */
export function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a >= 100) return Math.round(n).toLocaleString('en-US');
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}

export function ratio(f: Figure): number | undefined {
  return f.baseline && f.baseline.value !== 0 ? f.value / f.baseline.value : undefined;
}

const cell = (s: string | number): string => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

function summaryRows(results: BenchResult[]): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const r of results) {
    for (const f of r.figures) {
      const q = ratio(f);
      rows.push([
        r.bench,
        f.name,
        `${fmt(f.value)} ${f.unit}`,
        f.baseline ? `${f.baseline.name}: ${fmt(f.baseline.value)}` : '—',
        q === undefined ? '—' : `${q >= 0.1 ? q.toFixed(2) : q.toPrecision(2)}×`,
        f.target ? `${f.target.text} ${f.target.met ? '✅' : '❌ missed'}` : '',
        f.otherCorePct === undefined ? '' : `${fmt(f.otherCorePct)} %`,
      ]);
    }
  }
  return rows;
}

export interface RunHeader {
  machine: MachineInfo;
  /** What "ours" was, e.g. "working tree (compiled)"; one line per server build. */
  servers: string[];
  settings: string;
  mode: string;
  elapsedSec?: number;
}

export function renderMarkdown(h: RunHeader, results: BenchResult[]): string {
  const out: string[] = [];
  out.push(`# Benchmark results (${h.mode})`, '');
  out.push(`- Machine: ${machineLine(h.machine)}`);
  for (const s of h.servers) out.push(`- Server under test: ${s}`);
  out.push(`- Settings: ${h.settings}`);
  if (h.elapsedSec !== undefined) out.push(`- Run time: ${Math.round(h.elapsedSec)} s`);
  out.push(
    '- "other CPU": CPU used by processes other than the server and the load generator during the window, in % of one core.',
    '  Above ~20 % the machine was shared and throughput/latency are unreliable; CPU µs/msg and ratios within one run hold better.',
    '',
  );
  out.push('## Summary', '');
  out.push(markdownTable(['bench', 'figure', 'ours', 'baseline (same run)', 'ratio', 'target', 'other CPU'], summaryRows(results)), '');
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.bench}: ${p}`));
  out.push(problems.length === 0 ? '**Correctness: no errors, no lost or duplicated messages.**' : `**Problems (${problems.length}):**`, '');
  for (const p of problems) out.push(`- ${p}`);
  if (problems.length) out.push('');
  for (const r of results) {
    out.push(`## ${r.bench}: ${r.title}`, '', `Parameters: ${r.params}`, '');
    for (const d of r.details) {
      if (d.title) out.push(`${d.title}`, '');
      out.push(markdownTable(d.headers, d.rows), '');
    }
    if (r.verbatim) out.push(r.verbatim, '');
    for (const n of r.notes) out.push(`- ${n}`);
    if (r.notes.length) out.push('');
  }
  return out.join('\n');
}

/** Correctness checks shared by the WebSocket benchmarks; returns one line per problem. */
export function loadProblems(label: string, r: {
  errorCount: number;
  errors: Record<string, number>;
  lost: number;
  duplicated: number;
  duplicateAcks: number;
  unacked: number;
  undelivered: number;
  unexpected: Record<string, number>;
}): string[] {
  const p: string[] = [];
  if (r.errorCount) p.push(`${label}: errors ${JSON.stringify(r.errors)}`);
  if (r.lost) p.push(`${label}: ${r.lost} SENT-acked messages never reached the recipient (lost)`);
  if (r.duplicated) p.push(`${label}: ${r.duplicated} messages received twice (duplicated)`);
  if (r.duplicateAcks) p.push(`${label}: ${r.duplicateAcks} acks received twice`);
  if (r.unacked) p.push(`${label}: ${r.unacked} sends never acked`);
  if (r.undelivered) p.push(`${label}: ${r.undelivered} messages never DELIVERED-acked`);
  if (Object.keys(r.unexpected).length) p.push(`${label}: unexpected frames ${JSON.stringify(r.unexpected)}`);
  return p;
}
