// CPU and memory accounting for benchmarks (Linux only: reads /proc).
//
// Why /proc instead of asking the server: the figure we care about is "server
// CPU µs per message", and it must include everything the kernel charges to
// the server (uWS's C++ loop, GC threads, libuv pool, worker threads). utime +
// stime in /proc/<pid>/stat is exactly that, summed over all threads.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuTimes {
  userUs: number;
  systemUs: number;
  totalUs: number;
}

let ticksPerSecond: number | undefined;

/** Kernel clock ticks per second (USER_HZ); 100 on practically every Linux. */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface StatFields {
  ppid: number;
  utime: number;
  stime: number;
}

function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // process gone (or not ours to read)
  }
  // The command name (field 2) is in parentheses and may itself contain
  // spaces or ')', so split after the LAST ')'. The rest starts at field 3.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(rest[1]), // field 4
    utime: Number(rest[11]), // field 14
    stime: Number(rest[12]), // field 15
  };
}

function ticksToTimes(utime: number, stime: number): CpuTimes {
  const usPerTick = 1e6 / clockTicks();
  const userUs = utime * usPerTick;
  const systemUs = stime * usPerTick;
  return { userUs, systemUs, totalUs: userUs + systemUs };
}

/** user+system CPU of one process (all its threads), in µs. Throws if the pid is gone. */
export function readProcCpu(pid: number): CpuTimes {
  const s = readStat(pid);
  if (!s) throw new Error(`cannot read /proc/${pid}/stat (process exited?)`);
  return ticksToTimes(s.utime, s.stime);
}

/**
 * CPU of a process plus all its live descendants. Use this when the server is
 * started through a wrapper that forks (e.g. the `tsx` CLI, `npm start`), where
 * the pid you hold is not the process doing the work.
 */
export function readProcTreeCpu(pid: number): CpuTimes {
  const children = new Map<number, number[]>();
  const stats = new Map<number, StatFields>();
  for (const name of readdirSync('/proc')) {
    const p = Number(name);
    if (!Number.isInteger(p) || p <= 0) continue;
    const s = readStat(p);
    if (!s) continue;
    stats.set(p, s);
    const list = children.get(s.ppid);
    if (list) list.push(p);
    else children.set(s.ppid, [p]);
  }
  if (!stats.has(pid)) throw new Error(`cannot read /proc/${pid}/stat (process exited?)`);
  let utime = 0;
  let stime = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const s = stats.get(p);
    if (s) {
      utime += s.utime;
      stime += s.stime;
    }
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return ticksToTimes(utime, stime);
}

/**
 * Busy CPU of the whole machine (all cores, all processes) from /proc/stat.
 * Benchmarks subtract server + generator from it to see how much CPU *other*
 * processes took during the window: on a shared 2-core box that is the first
 * thing to check before trusting a throughput figure.
 */
export function readMachineCpu(): { busyUs: number; idleUs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!; // "cpu  user nice system idle iowait irq softirq steal ..."
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const usPerTick = 1e6 / clockTicks();
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  // Fields 8+ (guest, guest_nice) are already included in user/nice.
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busyUs: (total - idle) * usPerTick, idleUs: idle * usPerTick };
}

export interface MemInfo {
  rssBytes: number;
  /** Peak RSS since the process started (VmHWM). */
  peakRssBytes: number;
}

/** Resident memory of a process from /proc/<pid>/status. */
export function readProcMem(pid: number): MemInfo {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

/**
 * CPU of the current process. process.cpuUsage() is getrusage(RUSAGE_SELF),
 * i.e. process-wide: it already includes every worker_thread we started, so
 * the load generator's own cost with `workers: k` is measured by this alone.
 */
export function selfCpu(): CpuTimes {
  const u = process.cpuUsage();
  return { userUs: u.user, systemUs: u.system, totalUs: u.user + u.system };
}

export function cpuDelta(before: CpuTimes, after: CpuTimes): CpuTimes {
  return {
    userUs: after.userUs - before.userUs,
    systemUs: after.systemUs - before.systemUs,
    totalUs: after.totalUs - before.totalUs,
  };
}

export interface CpuWindowResult {
  wallMs: number;
  /** CPU consumed by the target pid (and its descendants) during the window. */
  target: CpuTimes;
  /** CPU consumed by this process (generator, incl. its worker threads). */
  self: CpuTimes;
  /** Target RSS at the end of the window. */
  targetRssBytes: number;
  /** target.totalUs / wallMs as a percentage of one core. */
  targetCorePct: number;
  selfCorePct: number;
}

/**
 * Start measuring a window: call the returned function at the end. Reading
 * both sides at the same instants keeps server and generator figures comparable.
 */
export function startCpuWindow(pid: number, opts: { tree?: boolean } = {}): () => CpuWindowResult {
  const read = opts.tree ? readProcTreeCpu : readProcCpu;
  const t0 = performance.now();
  const target0 = read(pid);
  const self0 = selfCpu();
  return () => {
    const target = cpuDelta(target0, read(pid));
    const self = cpuDelta(self0, selfCpu());
    const wallMs = performance.now() - t0;
    const pct = (us: number): number => Math.round((us / 1000 / wallMs) * 1000) / 10;
    return {
      wallMs,
      target,
      self,
      targetRssBytes: readProcMem(pid).rssBytes,
      targetCorePct: pct(target.totalUs),
      selfCorePct: pct(self.totalUs),
    };
  };
}
