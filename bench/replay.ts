// Replay on reconnect: a recipient with P pending messages (default 10000) connects; how long until
// `ready`, and at what rate do the messages arrive? On the in-memory store and on MongoDB.
//
//   node --import tsx bench/replay.ts [--smoke] [--compare <ref>] [--profile]
//     --pending P (10000)  --pending-mongo P (1000)  --window W (256: sends in flight while filling)  --stores mem,mongo
//   Mongo's default is smaller because FerretDB (CI's Mongo) stores and replays a few hundred
//   messages per second: 10000 would take minutes (run --pending-mongo 10000 to see it).
//   BENCH_MONGO_URI (else TEST_MONGO_URI, else mongodb://127.0.0.1:27017/): a fresh database
//   bench_replay_<random> per run, dropped afterwards. Unreachable Mongo: skipped with a note,
//   or a failure when REQUIRE_MONGO=1 (as in CI).
//
// Per store: one sender stores P messages for an offline recipient (over the WebSocket, W in flight);
// the recipient connects twice (each replay must bring all P, in send order, once each, then
// `ready` with replayed=P); the second connection confirms everything; the sender must get exactly
// P DELIVERED acks; a last connection must replay nothing.

import type WebSocket from 'ws';
import { makeBodyPool, runTag } from './lib/bodies.js';
import { benchMain, isMain, type BenchContext } from './lib/cli.js';
import { signTestToken } from './lib/jwt.js';
import { benchMongoBaseUri, dropDatabase, freshDatabaseName, probeMongo, withDatabase } from './lib/mongo.js';
import { cpuDelta, readMachineCpu, readProcCpu, selfCpu } from './lib/proc-cpu.js';
import { fmt, newResult, type BenchResult } from './lib/report.js';
import { BENCH_JWT_SECRET, startOurServer, stopServer, type ServerBuild } from './lib/servers.js';
import type { RunningServer } from './lib/spawn.js';
import { closeWs, corkingSender, openWs } from './lib/ws-connect.js';

interface Frame {
  type?: string;
  status?: string;
  messageId?: string;
  replayed?: number;
  code?: string;
  retryAfter?: number;
}

interface Window {
  ms: number;
  serverCpuUs: number;
  otherCorePct: number;
}

/** Server CPU and machine noise over an async step. */
async function timed<T>(serverPid: number, step: () => Promise<T>): Promise<[T, Window]> {
  const cpu0 = readProcCpu(serverPid);
  const self0 = selfCpu();
  const machine0 = readMachineCpu().busyUs;
  const t0 = performance.now();
  const value = await step();
  const ms = performance.now() - t0;
  const serverCpuUs = cpuDelta(cpu0, readProcCpu(serverPid)).totalUs;
  const machineUs = readMachineCpu().busyUs - machine0;
  const otherCorePct = Math.max(0, ((machineUs - serverCpuUs - cpuDelta(self0, selfCpu()).totalUs) / 1000 / ms) * 100);
  return [value, { ms, serverCpuUs, otherCorePct }];
}

const idOf = (tag: string, seq: number) => `rp-${tag}-${seq}`;
const seqOf = (tag: string, id: string | undefined) => (id?.startsWith(`rp-${tag}-`) ? Number(id.slice(tag.length + 4)) : -1);

/** The sender: stores P messages, W in flight, and later counts DELIVERED acks exactly once. */
class Sender {
  private ws!: WebSocket;
  private send!: (frame: string) => void;
  private readonly flags: Uint8Array;
  private next = 0;
  private inflight = 0;
  acked = 0;
  delivered = 0;
  readonly problems: string[] = [];
  private onProgress: () => void = () => {};

  constructor(
    private readonly url: string,
    private readonly tag: string,
    private readonly to: string,
    private readonly total: number,
    private readonly window: number,
  ) {
    this.flags = new Uint8Array(total);
  }

  async connect(token: string): Promise<void> {
    this.ws = await openWs(this.url, { token, timeoutMs: 10_000, onFrame: (t) => this.onFrame(JSON.parse(t) as Frame) });
    this.send = corkingSender(this.ws);
  }

  private onFrame(f: Frame): void {
    if (f.type === 'ready' || f.type === 'receipt') return; // receipts (v1.1): the recipient's delivered watermark moved
    const seq = seqOf(this.tag, f.messageId);
    if (f.type !== 'ack' || seq < 0 || seq >= this.total) {
      this.problems.push(`sender got ${JSON.stringify(f).slice(0, 120)}`);
      return this.onProgress();
    }
    const bit = f.status === 'SENT' ? 1 : 2;
    if (this.flags[seq]! & bit) this.problems.push(`duplicate ${f.status} ack for ${f.messageId}`);
    this.flags[seq] = this.flags[seq]! | bit;
    if (bit === 1) {
      this.acked++;
      this.inflight--;
      this.pump();
    } else {
      this.delivered++;
    }
    this.onProgress();
  }

  private readonly bodies = makeBodyPool(50, 500);
  private pump(): void {
    while (this.inflight < this.window && this.next < this.total) {
      const seq = this.next++;
      this.inflight++;
      this.send(`{"type":"send","messageId":"${idOf(this.tag, seq)}","to":"${this.to}","body":"${this.bodies[seq % this.bodies.length]}"}`);
    }
  }

  /** Resolves when `done()` holds after a frame, or rejects after `timeoutMs`. */
  private until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${what}: timed out after ${timeoutMs} ms (SENT acks ${this.acked}, DELIVERED acks ${this.delivered})`)),
        timeoutMs,
      );
      this.onProgress = () => {
        if (done() || this.problems.length > 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      this.onProgress();
    });
  }

  fill(timeoutMs: number): Promise<void> {
    const p = this.until(() => this.acked === this.total, timeoutMs, `storing ${this.total} messages`);
    this.pump();
    return p;
  }

  allDelivered(timeoutMs: number): Promise<void> {
    return this.until(() => this.delivered === this.total, timeoutMs, `${this.total} DELIVERED acks`);
  }

  /** Sequence numbers without a DELIVERED ack yet. */
  undelivered(): number[] {
    const out: number[] = [];
    for (let seq = 0; seq < this.total; seq++) if (!(this.flags[seq]! & 2)) out.push(seq);
    return out;
  }

  close(): Promise<void> {
    return closeWs(this.ws);
  }
}

interface ReplayOutcome {
  /** From `new WebSocket` to the `ready` frame. */
  toReadyMs: number;
  /** From the upgrade's completion to `ready`. */
  afterOpenMs: number;
  received: number;
  replayedField: number | undefined;
  problems: string[];
  ws: WebSocket;
  /** Set to take `unavailable` errors after the replay (a confirmation the store could not record) instead of a problem. */
  onUnavailable?: (retryAfterSec: number) => void;
}

/** Connects the recipient and collects the replay, checking order and exactly-once. */
async function replayOnce(url: string, token: string, tag: string, expected: number, timeoutMs: number): Promise<ReplayOutcome> {
  const problems: string[] = [];
  // The outcome exists before the socket so that frames after `ready` can reach its handlers.
  const outcome = { problems } as ReplayOutcome;
  let received = 0;
  let nextSeq = 0;
  let replayedField: number | undefined;
  let openedAt = 0;
  const t0 = performance.now();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const ws = await openWs(url, {
    token,
    timeoutMs,
    onFrame: (text) => {
      const f = JSON.parse(text) as Frame;
      if (f.type === 'message') {
        const seq = seqOf(tag, f.messageId);
        if (seq !== nextSeq) {
          if (problems.length < 5) problems.push(`replay order: got ${f.messageId}, expected ${idOf(tag, nextSeq)}`);
        } else {
          nextSeq++;
        }
        received++;
      } else if (f.type === 'ready') {
        replayedField = f.replayed;
        ready();
      } else if (f.type === 'receipt') {
        // v1.1: the user's own confirmations come back as receipts to its devices.
      } else if (f.type === 'error' && f.code === 'unavailable' && outcome.onUnavailable) {
        outcome.onUnavailable(f.retryAfter ?? 1);
      } else {
        problems.push(`recipient got ${text.slice(0, 120)}`);
      }
    },
  });
  openedAt = performance.now();
  let timer!: NodeJS.Timeout;
  await Promise.race([isReady, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no ready after ${timeoutMs} ms`)), timeoutMs)))]);
  clearTimeout(timer);
  const end = performance.now();
  if (received !== expected) problems.push(`replay brought ${received} messages, expected ${expected}`);
  if (replayedField !== expected) problems.push(`ready.replayed = ${replayedField}, expected ${expected}`);
  return Object.assign(outcome, { toReadyMs: end - t0, afterOpenMs: end - openedAt, received, replayedField, ws });
}

interface StoreRun {
  subject: string;
  store: string;
  pending: number;
  fill: Window;
  replays: (Window & { afterOpenMs: number })[];
  confirm: Window;
}

async function runStore(
  ctx: BenchContext,
  build: ServerBuild,
  store: string,
  dbUri: string,
  pending: number,
  window: number,
  problems: string[],
  notes: string[],
): Promise<StoreRun> {
  // Each step gets 30 s plus 50 ms per message: FerretDB confirms ~100 messages/s, with retries.
  const timeoutMs = 30_000 + 50 * pending;
  const server: RunningServer = await startOurServer(build, { dbUri, cpuProfDir: ctx.profileDir });
  try {
    const tag = runTag();
    const url = `ws://127.0.0.1:${server.port}/ws`;
    const senderId = `bench-rp-${tag}-s`;
    const recipientId = `bench-rp-${tag}-r`;
    const [senderToken, recipientToken] = await Promise.all([signTestToken(senderId, BENCH_JWT_SECRET), signTestToken(recipientId, BENCH_JWT_SECRET)]);
    const sender = new Sender(url, tag, recipientId, pending, window);
    await sender.connect(senderToken);
    ctx.log(`replay: ${build.label} ${store}: storing ${pending} messages`);
    const [, fill] = await timed(server.pid, () => sender.fill(timeoutMs));

    const replays: StoreRun['replays'] = [];
    let last: ReplayOutcome | undefined;
    for (let i = 0; i < 2; i++) {
      if (last) await closeWs(last.ws);
      ctx.log(`replay: ${build.label} ${store}: reconnect ${i + 1}`);
      const [outcome, w] = await timed(server.pid, () => replayOnce(url, recipientToken, tag, pending, timeoutMs));
      problems.push(...outcome.problems.map((p) => `${build.label} ${store} reconnect ${i + 1}: ${p}`));
      replays.push({ ...w, ms: outcome.toReadyMs, afterOpenMs: outcome.afterOpenMs });
      last = outcome;
    }

    // Confirm everything from the open connection, as a client would: batches of 1000 ids. A store
    // that cannot keep up answers `unavailable` (nothing recorded, messages stay pending): like a real
    // client, wait retryAfter and confirm again what has no DELIVERED ack yet. Counted in the notes.
    const seen = last!.problems.length;
    let confirmRetries = 0;
    const [, confirm] = await timed(server.pid, async () => {
      const done = sender.allDelivered(timeoutMs);
      const confirmIds = (ids: string[]) => {
        for (let i = 0; i < ids.length; i += 1000) last!.ws.send(JSON.stringify({ type: 'delivered', messageIds: ids.slice(i, i + 1000) }));
      };
      let retryTimer: NodeJS.Timeout | undefined;
      last!.onUnavailable = (retryAfterSec) => {
        if (retryTimer) return; // one retry for a burst of errors
        confirmRetries++;
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          confirmIds(sender.undelivered().map((seq) => idOf(tag, seq)));
        }, retryAfterSec * 1000);
      };
      confirmIds(Array.from({ length: pending }, (_, k) => idOf(tag, k)));
      try {
        await done;
      } catch (e) {
        const extra = last!.problems.slice(seen);
        throw extra.length ? new Error(`${e instanceof Error ? e.message : String(e)}; recipient meanwhile: ${extra.join('; ')}`) : e;
      } finally {
        clearTimeout(retryTimer);
      }
    });
    if (confirmRetries) notes.push(`${build.label} ${store}: the store answered \`unavailable\` to confirmations ${confirmRetries} time(s) (queue wait past DB_OP_TIMEOUT_MS); the client confirmed the rest again after retryAfter`);
    problems.push(...last!.problems.slice(seen).map((p) => `${build.label} ${store} while confirming: ${p}`));
    await closeWs(last!.ws);
    const after = await replayOnce(url, recipientToken, tag, 0, timeoutMs);
    problems.push(...after.problems.map((p) => `${build.label} ${store} after confirming: ${p}`));
    await closeWs(after.ws);
    problems.push(...sender.problems.map((p) => `${build.label} ${store}: ${p}`));
    await sender.close();
    return { subject: build.label, store, pending, fill, replays, confirm };
  } finally {
    await stopServer(server, ctx.profileDir !== undefined);
  }
}

export async function runReplay(ctx: BenchContext): Promise<BenchResult> {
  const a = ctx.args;
  const pending = a.num('pending', ctx.smoke ? 200 : 10_000);
  const pendingMongo = a.num('pending-mongo', ctx.smoke ? 100 : 1000);
  const window = a.num('window', 256);
  const stores = (a.str('stores') ?? 'mem,mongo').split(',');
  const mongoBase = benchMongoBaseUri();
  const result = newResult(
    'replay',
    'Replay on reconnect: P pending messages to `ready`, in memory and on MongoDB',
    `P=${pending} pending messages on mem, ${pendingMongo} on Mongo (bodies 50–500 B) from one sender, stored over the WebSocket with ${window} in flight; ` +
      `two reconnects (each must replay all P in order), then all confirmed (1000 ids per frame), then a reconnect that must replay none. ` +
      `Mongo: ${mongoBase.replace(/\/\/[^@/]*@/, '//…@')} with a fresh database per run, dropped after`,
  );
  const runs: StoreRun[] = [];
  // The client side of a replay (parsing P frames, its bookkeeping) runs in this process, and its first
  // run is slower: with --compare HEAD (the same code twice) the first subject's reconnect → ready read
  // 151–169 ms against 98–127. One unmeasured run on the memory store first warms it (not profiled:
  // --profile's directory holds the measured runs only).
  if (!ctx.smoke) {
    ctx.log('replay: warm-up (not measured)');
    await runStore({ ...ctx, profileDir: undefined }, ctx.ours[0]!, 'mem', 'mem', Math.min(pending, 2000), window, result.problems, []);
  }
  for (const store of stores) {
    let uri = 'mem';
    let db: string | undefined;
    if (store === 'mongo') {
      const why = await probeMongo(mongoBase);
      if (why !== undefined) {
        const line = `MongoDB not usable (${why}): Mongo replay skipped`;
        if (process.env.REQUIRE_MONGO === '1') result.problems.push(line);
        else result.notes.push(line);
        continue;
      }
      db = freshDatabaseName('bench_replay');
      uri = withDatabase(mongoBase, db);
    } else if (store !== 'mem') {
      throw new Error(`unknown store "${store}" (mem, mongo)`);
    }
    try {
      for (const build of ctx.ours) {
        // One store failing (a timeout on a slow Mongo) must not hide the other's figures.
        try {
          runs.push(await runStore(ctx, build, store, uri, store === 'mongo' ? pendingMongo : pending, window, result.problems, result.notes));
        } catch (e) {
          result.problems.push(`${build.label} ${store}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    } finally {
      if (db !== undefined) await dropDatabase(mongoBase, db).catch((e: unknown) => result.notes.push(`could not drop ${db}: ${String(e)}`));
    }
  }

  const rate = (n: number, ms: number) => (n / ms) * 1000;
  result.details.push({
    headers: ['server', 'store', 'store P: P, msgs/s', 'server CPU µs/stored msg', 'reconnect → ready ms (1st / 2nd)', 'open → ready ms (1st)', 'replay msgs/s (1st)', 'server CPU µs/replayed msg', 'confirm all: ms', 'other core %'],
    rows: runs.map((r) => [
      r.subject,
      r.store,
      `${r.pending}: ${fmt(rate(r.pending, r.fill.ms))}`,
      fmt(r.fill.serverCpuUs / r.pending),
      `${fmt(r.replays[0]!.ms)} / ${fmt(r.replays[1]!.ms)}`,
      fmt(r.replays[0]!.afterOpenMs),
      fmt(rate(r.pending, r.replays[0]!.ms)),
      fmt(r.replays[0]!.serverCpuUs / r.pending),
      fmt(r.confirm.ms),
      fmt(Math.max(...r.replays.map((x) => x.otherCorePct))),
    ]),
  });
  const main = ctx.ours[0]!.label;
  const mem = runs.find((r) => r.subject === main && r.store === 'mem');
  const mongo = runs.find((r) => r.subject === main && r.store === 'mongo');
  if (mem) {
    const r = mem.replays[0]!;
    const full = mem.pending >= 10_000;
    result.figures.push({ name: `replay ${mem.pending} pending → ready (mem)`, value: r.ms, unit: 'ms', target: full ? { text: '≤ 1000 ms for 10000', met: r.ms <= 1000 } : undefined, otherCorePct: r.otherCorePct });
  }
  const memRate = mem && rate(mem.pending, mem.replays[0]!.ms);
  if (mem) result.figures.push({ name: 'replay rate (mem)', value: memRate!, unit: 'msgs/s', otherCorePct: mem.replays[0]!.otherCorePct });
  if (mongo) {
    const r = mongo.replays[0]!;
    result.figures.push({ name: `replay ${mongo.pending} pending → ready (Mongo)`, value: r.ms, unit: 'ms', otherCorePct: r.otherCorePct });
    result.figures.push({ name: 'replay rate (Mongo)', value: rate(mongo.pending, r.ms), unit: 'msgs/s', baseline: memRate === undefined ? undefined : { name: 'mem', value: memRate }, otherCorePct: r.otherCorePct });
    result.figures.push({ name: 'store via WebSocket sends, 1 sender (Mongo)', value: rate(mongo.pending, mongo.fill.ms), unit: 'msgs/s', baseline: mem && { name: 'mem', value: rate(mem.pending, mem.fill.ms) }, otherCorePct: mongo.fill.otherCorePct });
    result.figures.push({ name: 'confirm all, DELIVERED acks back (Mongo)', value: rate(mongo.pending, mongo.confirm.ms), unit: 'msgs/s', baseline: mem && { name: 'mem', value: rate(mem.pending, mem.confirm.ms) }, otherCorePct: mongo.confirm.otherCorePct });
  }
  for (const b of ctx.ours.slice(1)) {
    for (const store of ['mem', 'mongo']) {
      const x = runs.find((r) => r.subject === main && r.store === store);
      const y = runs.find((r) => r.subject === b.label && r.store === store);
      if (x && y) result.figures.push({ name: `replay → ready (${store}), ${main} vs ${b.label}`, value: x.replays[0]!.ms, unit: 'ms', baseline: { name: b.label, value: y.replays[0]!.ms } });
    }
  }
  result.notes.push(
    '"reconnect → ready" runs from opening the TCP connection (upgrade and JWT check included) to the `ready` frame, with every message parsed by the client; the 2nd reconnect replays the same messages again (warm caches).',
    'Mongo figures depend on the server behind the URI: FerretDB on PostgreSQL here (CI), much slower than a real MongoDB.',
  );
  result.raw = { pending, window, runs };
  return result;
}

if (isMain(import.meta.url)) await benchMain('replay', async (ctx) => [await runReplay(ctx)]);
