// Shared shapes of the load generator: what the orchestrator (ws-load.ts)
// hands to each thread, and what each thread hands back. Everything here must
// survive structured clone, because threads may be worker_threads.

import { Histogram, type HistogramData } from './stats.js';

/**
 * chat:     our protocol, N senders -> N recipients, SENT and DELIVERED acks.
 * echo:     N connections; each frame is answered by the same frame (bare uWS baseline).
 * socketio: N Socket.IO clients emitting 'send' with an ack callback.
 */
export type LoadMode = 'chat' | 'echo' | 'socketio';

export interface PairSpec {
  /** Global pair index (also encoded in message ids). */
  index: number;
  senderId: string;
  recipientId: string;
  senderToken?: string;
  recipientToken?: string;
}

export interface ThreadConfig {
  mode: LoadMode;
  url: string;
  window: number;
  pairs: PairSpec[];
  /** Run tag: prefix of every message id of this run. */
  tag: string;
  bodyMin: number;
  bodyMax: number;
  drainMs: number;
  connectTimeoutMs: number;
  auth: 'header' | 'cookie';
  /** Open-loop pacing: this thread's sends per second (the window still caps what is in flight). Unset: as fast as acks come back. */
  ratePerSec?: number;
  /**
   * Reconnect a connection that closes before `ready` this many times (default 0: it fails the run).
   * Only for profiling: under --cpu-prof a few upgrades of our server end in 1006 right after opening.
   */
  connectRetries?: number;
}

/** The tallies each thread reports; LoadReport (ws-load.ts) carries the same ones, summed over threads. */
export interface LoadTally {
  /** Frames/emits we sent. */
  sent: number;
  /** SENT acks (chat), echoes (echo), ack callbacks (socketio). */
  acked: number;
  /** DELIVERED acks received by senders (chat only). */
  deliveredAcks: number;
  /** Distinct messages received by recipients (chat only). */
  received: number;
  /** SENT-acked but never received by the recipient before the drain ended. */
  lost: number;
  /** Receipts of a message the recipient already had. */
  duplicated: number;
  /** Second SENT/DELIVERED ack for the same message. */
  duplicateAcks: number;
  /** Acks that carried duplicate:true (server saw a resend; we never resend). */
  serverDuplicateFlags: number;
  /** Sent, no ack and no error by the end of the drain. */
  unacked: number;
  /** SENT-acked but no DELIVERED ack by the end of the drain (chat only). */
  undelivered: number;
  /** Error frames / failures, by code. */
  errors: Record<string, number>;
  /** Frames we did not expect, by type (or 'foreign-id' for ids not from this run). */
  unexpected: Record<string, number>;
  /** Connections retried after closing before `ready` (only with connectRetries: profiling runs). */
  connectRetries: number;
}

export interface ThreadResult extends LoadTally {
  ack: HistogramData;
  delivered: HistogramData;
  /** Epoch ms (timeOrigin + now) of the last ack/receipt: end of useful work. */
  lastEventAt: number;
  /** Paced runs: how far behind schedule sending got (ms of sends at the target rate); 0 unpaced. */
  backlogMaxMs: number;
}

/** What every per-mode runner implements; one instance per thread. */
export interface ThreadRunner {
  /** Open all connections (and wait for the server's "ready" where applicable). */
  connect(): Promise<void>;
  /** Begin sending; at most `budget` messages from this thread (Infinity = until stop). */
  start(budget: number): void;
  /** Resolves when the budget is used up and nothing is in flight. */
  readonly finished: Promise<void>;
  /** Stop sending, wait for in-flight work (up to drainMs), report. Connections stay open. */
  stop(): Promise<ThreadResult>;
  /** Close all connections (separate from stop so closing is outside the measured window). */
  close(): Promise<void>;
}

/** Epoch milliseconds comparable across worker threads. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

const bump = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** Mutable counters every runner uses; toResult() snapshots them. Its fields are exactly ThreadResult's. */
export class Counters implements LoadTally {
  sent = 0;
  acked = 0;
  deliveredAcks = 0;
  received = 0;
  lost = 0;
  duplicated = 0;
  duplicateAcks = 0;
  serverDuplicateFlags = 0;
  unacked = 0;
  undelivered = 0;
  lastEventAt = 0;
  backlogMaxMs = 0;
  connectRetries = 0;
  readonly errors: Record<string, number> = {};
  readonly unexpected: Record<string, number> = {};
  readonly ack = new Histogram();
  readonly delivered = new Histogram();

  error(code: string): void {
    bump(this.errors, code);
  }

  odd(kind: string): void {
    bump(this.unexpected, kind);
  }

  // A plain-data copy (it crosses postMessage from worker threads): the numbers as they are,
  // the records copied so later counting cannot change them, the histograms as data.
  toResult(): ThreadResult {
    return {
      ...this,
      errors: { ...this.errors },
      unexpected: { ...this.unexpected },
      ack: this.ack.toData(),
      delivered: this.delivered.toData(),
    };
  }
}

/** Resolves when `done()` is true, polling; or after `maxMs` regardless. */
export async function waitUntil(done: () => boolean, maxMs: number, everyMs = 10): Promise<boolean> {
  const deadline = performance.now() + maxMs;
  while (!done()) {
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}
