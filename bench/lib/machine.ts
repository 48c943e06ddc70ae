// What a result was measured on: printed at the top of every table, so a figure is never read
// without its machine, Node version, commit and the noise around it.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memGiB: number;
  node: string;
  /** ISO date and time of the run. */
  date: string;
  /** Short commit of the tree the benchmark ran in, with "+dirty" when it had local changes. */
  commit: string;
  /** 1-minute load average at the start: more than `cores` means someone else is busy. */
  loadAvg1: number;
}

function git(args: string[], cwd: string): string {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function cpuModel(): string {
  const fromOs = cpus()[0]?.model?.trim();
  if (fromOs) return fromOs;
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineInfo(repoDir: string): MachineInfo {
  const commit = git(['rev-parse', '--short', 'HEAD'], repoDir) || 'unknown';
  const dirty = git(['status', '--porcelain', '--', 'src'], repoDir) !== '';
  return {
    cpuModel: cpuModel(),
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
    commit: dirty ? `${commit}+dirty(src)` : commit,
    loadAvg1: Math.round(loadavg()[0]! * 100) / 100,
  };
}

export function machineLine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memGiB} GiB · Node ${m.node} · ${m.date} · commit ${m.commit} · load avg at start ${m.loadAvg1}`;
}
