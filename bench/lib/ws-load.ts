// Load generator entry point: N sender/recipient pairs, W in flight per
// sender, spread over worker threads, stopped by duration or message count.
// Returns one merged report, optionally with the server's CPU for the same
// window (so "CPU µs per message" comes from one place for every benchmark).

import { signTestToken } from './jwt.js';
import { runTag } from './bodies.js';
import { epochNow, type LoadMode, type LoadTally, type PairSpec, type ThreadConfig, type ThreadResult } from './load-types.js';
import { localThread, workerThread, type ThreadHandle } from './load-threads.js';
import { readMachineCpu, readProcCpu, readProcMem, readProcTreeCpu, selfCpu, cpuDelta } from './proc-cpu.js';
import { mergeHistograms, type LatencySummary } from './stats.js';

export type { LoadMode } from './load-types.js';

export interface WsLoadOptions {
  /** Default 'chat'. */
  mode?: LoadMode;
  /** ws://host:port/ws for chat/echo; http://host:port for socketio. */
  url: string;
  /** N: sender/recipient pairs (chat) or connections (echo, socketio). */
  pairs: number;
  /** W: sends in flight per sender. */
  window: number;
  /** Stop after this long (also caps a count-limited run). */
  durationMs?: number;
  /** Stop after this many messages in total (split across threads). */
  totalMessages?: number;
  /** Open-loop: send this many messages per second in total (W still caps each sender). Unset: closed loop, paced by acks. */
  ratePerSec?: number;
  /** Worker threads to spread connections over; 0 (default) = this thread. */
  workers?: number;
  /** HS256 secret for test tokens; required for chat unless tokenFor is given. */
  secret?: string;
  tokenFor?: (userId: string) => Promise<string>;
  /** User id scheme; default `bench-<tag>-s<i>` / `bench-<tag>-r<i>` (fresh per run: no replay). */
  userId?: (role: 'sender' | 'recipient', i: number, tag: string) => string;
  auth?: 'header' | 'cookie';
  bodyMin?: number;
  bodyMax?: number;
  /** How long to wait for in-flight acks/deliveries after stopping; default 3000. */
  drainMs?: number;
  connectTimeoutMs?: number;
  /** When given, the server's CPU over the measured window is reported too. */
  serverPid?: number;
  /** Count CPU of serverPid's descendants as well (wrapper-started servers). */
  serverTree?: boolean;
  /** See ThreadConfig.connectRetries: for profiling runs only. */
  connectRetries?: number;
  /** Another runner in this thread (bench/lib/lean-load.ts); replaces `workers`. */
  createThread?: (cfg: ThreadConfig) => ThreadHandle;
  /**
   * CPU (µs, cumulative) of other processes doing the generator's work (bench/lib/go-load.ts: its
   * children), read at the window's start and end: the difference counts as the generator's.
   */
  extraGeneratorCpuUs?: () => number;
}

/** The tallies (LoadTally) are the threads' summed; the rest is computed over the run. */
export interface LoadReport extends LoadTally {
  mode: LoadMode;
  pairs: number;
  window: number;
  workers: number;
  /** From start to the last ack/receipt. */
  elapsedMs: number;
  /** The offered rate of a paced run (msgs/s); undefined for closed-loop runs. */
  ratePerSec?: number;
  /** Paced runs: how far sending fell behind schedule (ms); more than a few ms means the target rate was not offered. */
  backlogMaxMs: number;
  msgsPerSec: number;
  /** SENT-ack latency (chat), echo round trip (echo), ack callback (socketio). */
  ack: LatencySummary;
  /** send -> DELIVERED-ack latency (chat only). */
  delivered?: LatencySummary;
  errorCount: number;
  /** This process (all worker threads included) over the measured window, plus extraGeneratorCpuUs's processes. */
  generator: { cpuUs: number; corePct: number };
  /** Whole machine over the window; otherCorePct = busy minus server and generator (noise check). */
  machine: { busyCorePct: number; otherCorePct: number };
  /** systemShare: the kernel's part of the server's CPU (syscalls: socket reads and writes). */
  server?: { cpuUs: number; cpuUsPerMsg: number; systemShare: number; corePct: number; rssBytes: number };
}

async function makePairs(o: WsLoadOptions, tag: string): Promise<PairSpec[]> {
  const mode = o.mode ?? 'chat';
  const name = o.userId ?? ((role, i, t) => `bench-${t}-${role === 'sender' ? 's' : 'r'}${i}`);
  const sign = o.tokenFor ?? (o.secret ? (u: string) => signTestToken(u, o.secret!) : undefined);
  if (mode === 'chat' && !sign) throw new Error('chat load needs `secret` or `tokenFor`');
  return Promise.all(
    Array.from({ length: o.pairs }, async (_, i) => {
      const senderId = name('sender', i, tag);
      const recipientId = name('recipient', i, tag);
      return {
        index: i,
        senderId,
        recipientId,
        senderToken: sign ? await sign(senderId) : undefined,
        recipientToken: mode === 'chat' && sign ? await sign(recipientId) : undefined,
      };
    }),
  );
}

function sumInto(a: Record<string, number>, b: Record<string, number>): void {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
}

export async function runWsLoad(o: WsLoadOptions): Promise<LoadReport> {
  if (o.durationMs === undefined && o.totalMessages === undefined) throw new Error('give durationMs or totalMessages');
  const mode = o.mode ?? 'chat';
  const tag = runTag();
  const pairs = await makePairs(o, tag);
  const nThreads = Math.max(1, Math.min(o.workers ?? 0, pairs.length));
  const base: Omit<ThreadConfig, 'pairs'> = {
    mode,
    url: o.url,
    window: o.window,
    tag,
    bodyMin: o.bodyMin ?? 50,
    bodyMax: o.bodyMax ?? 500,
    drainMs: o.drainMs ?? 3000,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    auth: o.auth ?? 'header',
    connectRetries: o.connectRetries,
  };
  // Round-robin pairs over threads; a pair's two ends share a thread so the
  // exactly-once check needs no cross-thread bookkeeping.
  const slices = Array.from({ length: nThreads }, (_, t) => pairs.filter((_, i) => i % nThreads === t));
  const threads: ThreadHandle[] = slices.map((s) =>
    (o.createThread ?? (o.workers ? workerThread : localThread))({ ...base, pairs: s, ratePerSec: o.ratePerSec && (o.ratePerSec * s.length) / pairs.length }),
  );
  try {
    await Promise.all(threads.map((t) => t.connected));

    const readServer = o.serverTree ? readProcTreeCpu : readProcCpu;
    const server0 = o.serverPid !== undefined ? readServer(o.serverPid) : undefined;
    const self0 = selfCpu();
    const extra0 = o.extraGeneratorCpuUs?.() ?? 0;
    const machine0 = readMachineCpu().busyUs;
    const startAt = epochNow();
    const total = o.totalMessages ?? Infinity;
    // Shares proportional to pairs; the rounding remainder goes to thread 0 so they sum to total.
    const shares = slices.map((s) => Math.floor((total * s.length) / pairs.length));
    if (Number.isFinite(total)) shares[0]! += total - shares.reduce((a, b) => a + b, 0);
    threads.forEach((t, i) => t.start(shares[i]!));

    const stoppers: Promise<unknown>[] = [];
    if (o.durationMs !== undefined) stoppers.push(new Promise((r) => setTimeout(r, o.durationMs)));
    if (o.totalMessages !== undefined) stoppers.push(Promise.all(threads.map((t) => t.finished)));
    await Promise.race(stoppers);
    const results: ThreadResult[] = await Promise.all(threads.map((t) => t.stop()));

    const endAt = epochNow();
    const self = cpuDelta(self0, selfCpu());
    const extraUs = o.extraGeneratorCpuUs ? o.extraGeneratorCpuUs() - extra0 : 0;
    const serverCpu = server0 && o.serverPid !== undefined ? cpuDelta(server0, readServer(o.serverPid)) : undefined;
    const machineUs = readMachineCpu().busyUs - machine0;
    return buildReport(o, mode, nThreads, results, { startAt, endAt, selfUs: self.totalUs + extraUs, serverUs: serverCpu?.totalUs, serverSystemUs: serverCpu?.systemUs, machineUs });
  } finally {
    await Promise.all(threads.map((t) => t.close().catch(() => {})));
  }
}

function buildReport(
  o: WsLoadOptions,
  mode: LoadMode,
  workers: number,
  results: ThreadResult[],
  w: { startAt: number; endAt: number; selfUs: number; serverUs: number | undefined; serverSystemUs: number | undefined; machineUs: number },
): LoadReport {
  const { startAt, endAt, selfUs, serverUs } = w;
  const num = (k: keyof ThreadResult): number => results.reduce((s, r) => s + (r[k] as number), 0);
  const errors: Record<string, number> = {};
  const unexpected: Record<string, number> = {};
  for (const r of results) {
    sumInto(errors, r.errors);
    sumInto(unexpected, r.unexpected);
  }
  const lastEvent = Math.max(...results.map((r) => r.lastEventAt));
  const elapsedMs = lastEvent > startAt ? lastEvent - startAt : endAt - startAt;
  const windowMs = endAt - startAt;
  const acked = num('acked');
  const pct = (us: number): number => Math.round((us / 1000 / windowMs) * 1000) / 10;
  return {
    mode,
    pairs: o.pairs,
    window: o.window,
    workers,
    elapsedMs: Math.round(elapsedMs),
    ratePerSec: o.ratePerSec,
    backlogMaxMs: Math.max(0, ...results.map((r) => r.backlogMaxMs)),
    connectRetries: num('connectRetries'),
    sent: num('sent'),
    acked,
    msgsPerSec: Math.round((acked / elapsedMs) * 1000),
    ack: mergeHistograms(results.map((r) => r.ack)).summary(),
    delivered: mode === 'chat' ? mergeHistograms(results.map((r) => r.delivered)).summary() : undefined,
    deliveredAcks: num('deliveredAcks'),
    received: num('received'),
    lost: num('lost'),
    duplicated: num('duplicated'),
    duplicateAcks: num('duplicateAcks'),
    serverDuplicateFlags: num('serverDuplicateFlags'),
    unacked: num('unacked'),
    undelivered: num('undelivered'),
    errors,
    errorCount: Object.values(errors).reduce((s, v) => s + v, 0),
    unexpected,
    generator: { cpuUs: Math.round(selfUs), corePct: pct(selfUs) },
    machine: { busyCorePct: pct(w.machineUs), otherCorePct: pct(Math.max(0, w.machineUs - selfUs - (serverUs ?? 0))) },
    server:
      serverUs === undefined || o.serverPid === undefined
        ? undefined
        : {
            cpuUs: Math.round(serverUs),
            cpuUsPerMsg: acked > 0 ? Math.round((serverUs / acked) * 10) / 10 : 0,
            systemShare: serverUs > 0 ? Math.round(((w.serverSystemUs ?? 0) / serverUs) * 100) / 100 : 0,
            corePct: pct(serverUs),
            rssBytes: readProcMem(o.serverPid).rssBytes,
          },
  };
}
