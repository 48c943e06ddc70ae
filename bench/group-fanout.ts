// Group fan-out (issue 13): one sender into a group of M members (default 1000, the sender included),
// every member connected (one WebSocket each), on the in-memory store (or MongoDB: --store mongo). Figures: delivered frames/s and
// server CPU µs per delivered frame, beside the same figure for direct messages in the same run and on
// the same connections: the same number of delivered frames via 1:1 sends (the sender sends to the
// M-1 other members in turn). Target: group ≤ 1.5× direct per delivered frame.
//
//   node --import tsx bench/group-fanout.ts [--smoke] [--compare <ref>] [--profile]
//     --members M (1000)  --group-messages S (100 group messages measured, after --group-warmup 20)
//     --group-window W (4: group messages in flight, each W·(M-1) frames)  --window-direct D (1024 direct sends in flight)
//     --modes group,direct (both; `--modes group --profile` profiles the group path alone)
//     --store mongo [--mongo-proxy-ms D]  ours on MongoDB (BENCH_MONGO_URI, else TEST_MONGO_URI, else the
//                local FerretDB), optionally through the latency proxy, as bench/paced.ts
//     --confirm  members confirm by watermark, `{type:"delivered",conversationId,seq}`, once per
//                event-loop turn each (both modes): adds confirms, receipts and, direct, DELIVERED acks
//
// Closed loop on delivery, not on the SENT ack: the sender sends the next message once one in flight
// has reached every recipient (otherwise the server outruns 999 readers and closes them as slow
// consumers). By default members do NOT confirm (no `delivered` frames, so no receipts and no
// DELIVERED acks in either mode): the figure is the live fan-out path (send → store → route → encode
// → write per socket). With --confirm they confirm by watermark. Each member checks exactly-once and,
// for the group, seq order.
//
// Server limits raised via env: MAX_CONNECTIONS_PER_IP (all sockets come from 127.0.0.1),
// MAX_MEMBERS_PER_ADD (a group is created with all its members in one POST), MAX_HTTP_BODY_BYTES,
// SEND_RATE_PER_SEC/SEND_BURST (raised for every benchmark). Members are bare-socket clients
// (bench/lib/raw-ws.ts): 999 `ws` clients would make the generator, not the server, the bottleneck.

import type WebSocket from 'ws';
import { makeBodyPool, runTag } from './lib/bodies.js';
import { benchMain, isMain, type BenchContext } from './lib/cli.js';
import { signTestToken, signTestTokens } from './lib/jwt.js';
import { cpuDelta, readMachineCpu, readProcCpu, selfCpu } from './lib/proc-cpu.js';
import { openRawWs, type RawWs } from './lib/raw-ws.js';
import { openBenchStore } from './lib/mongo.js';
import { fmt, newResult, type BenchResult } from './lib/report.js';
import { directConversationId } from '../src/store/conversation-ids.js';
import { BENCH_JWT_SECRET, startOurServer, stopServer, type ServerBuild } from './lib/servers.js';
import { closeWs, corkingSender, openWs } from './lib/ws-connect.js';

export const FANOUT_ENV = (members: number): Record<string, string> => ({
  DELIVERED_RATE_PER_SEC: '1000000',
  DELIVERED_BURST: '1000000',
  MAX_CONNECTIONS_PER_IP: String(members + 100),
  MAX_GROUP_MEMBERS: String(Math.max(1000, members)),
  MAX_MEMBERS_PER_ADD: String(Math.max(100, members)),
  MAX_HTTP_BODY_BYTES: String(4 << 20),
});

interface Window {
  ms: number;
  serverCpuUs: number;
  selfCpuUs: number;
  otherCorePct: number;
}

/** Server CPU, generator CPU and machine noise over an async step. */
async function timed(serverPid: number, step: () => Promise<void>): Promise<Window> {
  const cpu0 = readProcCpu(serverPid);
  const self0 = selfCpu();
  const machine0 = readMachineCpu().busyUs;
  const t0 = performance.now();
  await step();
  const ms = performance.now() - t0;
  const serverCpuUs = cpuDelta(cpu0, readProcCpu(serverPid)).totalUs;
  const selfCpuUs = cpuDelta(self0, selfCpu()).totalUs;
  const machineUs = readMachineCpu().busyUs - machine0;
  const otherCorePct = Math.max(0, ((machineUs - serverCpuUs - selfCpuUs) / 1000 / ms) * 100);
  return { ms, serverCpuUs, selfCpuUs, otherCorePct };
}

const MESSAGE_ID_KEY = Buffer.from('"messageId":"');
const TYPE_RECEIPT = Buffer.from('"type":"receipt"');
const TYPE_MESSAGE = Buffer.from('"type":"message"');
const SEQ_KEY = Buffer.from('"seq":');

/** The k in a message id `<prefix><k>` (digits up to the closing quote), or -1. */
function idIndex(payload: Buffer, prefix: Buffer): number {
  const at = payload.indexOf(MESSAGE_ID_KEY);
  if (at < 0) return -1;
  const start = at + MESSAGE_ID_KEY.length;
  if (payload.compare(prefix, 0, prefix.length, start, start + prefix.length) !== 0) return -1;
  let k = 0;
  for (let i = start + prefix.length; i < payload.length; i++) {
    const c = payload[i]!;
    if (c === 0x22) return k;
    if (c < 0x30 || c > 0x39) return -1;
    k = k * 10 + (c - 0x30);
  }
  return -1;
}

function seqOf(payload: Buffer): number {
  const at = payload.indexOf(SEQ_KEY);
  if (at < 0) return -1;
  let n = 0;
  for (let i = at + SEQ_KEY.length; i < payload.length; i++) {
    const c = payload[i]!;
    if (c < 0x30 || c > 0x39) return n;
    n = n * 10 + (c - 0x30);
  }
  return -1;
}

type Mode = 'group' | 'direct';

/**
 * One mode's load: message k goes to every recipient (group) or to recipient k mod R (direct). Each
 * message is done once every recipient it addresses has it; at most `window` messages are not done.
 */
class Load {
  private readonly prefix: Buffer;
  private readonly idPrefix: string;
  /** Recipients still to receive message k. */
  private readonly remaining: Int32Array;
  /** Direct: received flags per message (one recipient each); group: per (recipient, message). */
  private readonly seen: Uint8Array;
  /** Group: the last seq each recipient got (order check). */
  private readonly lastSeq: Int32Array;
  private next = 0;
  private target = 0;
  done = 0;
  received = 0;
  acks = 0;
  duplicates = 0;
  outOfOrder = 0;
  readonly problems: string[] = [];
  private wake: () => void = () => {};

  constructor(
    readonly mode: Mode,
    tag: string,
    private readonly recipients: number,
    readonly total: number,
    private readonly window: number,
    private readonly send: (frame: string) => void,
    private readonly address: string,
    private readonly bodies: string[],
  ) {
    this.idPrefix = `gf${mode[0]}-${tag}-`;
    this.prefix = Buffer.from(this.idPrefix);
    this.remaining = new Int32Array(total).fill(mode === 'group' ? recipients : 1);
    this.seen = new Uint8Array(mode === 'group' ? total * recipients : total);
    this.lastSeq = new Int32Array(recipients);
  }

  /** Frames every recipient gets per message. */
  get fanout(): number {
    return this.mode === 'group' ? this.recipients : 1;
  }

  /** Set by --confirm: called with (recipient, seq) for every message frame. */
  onSeq: ((r: number, seq: number) => void) | undefined;

  /** A text frame at recipient r; false when it is not one of this load's messages. */
  onFrame(r: number, payload: Buffer): boolean {
    if (payload.indexOf(TYPE_MESSAGE) < 0) return false;
    const k = idIndex(payload, this.prefix);
    if (k < 0 || k >= this.total) return false;
    this.onSeq?.(r, seqOf(payload));
    const slot = this.mode === 'group' ? k * this.recipients + r : k;
    if (this.mode === 'direct' && k % this.recipients !== r) {
      if (this.problems.length < 5) this.problems.push(`direct message ${k} reached recipient ${r}`);
      return true;
    }
    if (this.seen[slot]) {
      this.duplicates++;
      return true;
    }
    this.seen[slot] = 1;
    this.received++;
    if (this.mode === 'group') {
      const seq = seqOf(payload);
      if (seq <= this.lastSeq[r]!) this.outOfOrder++;
      this.lastSeq[r] = seq;
    }
    if (--this.remaining[k]! === 0) {
      this.done++;
      this.pump();
    }
    return true;
  }

  deliveredAcks = 0;

  onAck(text: string): boolean {
    if (!text.includes(`"messageId":"${this.idPrefix}`)) return false;
    if (text.includes('"status":"SENT"')) this.acks++;
    else if (text.includes('"status":"DELIVERED"')) this.deliveredAcks++;
    else if (this.problems.length < 5) this.problems.push(`sender got ${text.slice(0, 160)}`);
    return true;
  }

  private pump(): void {
    while (this.next < this.target && this.next - this.done < this.window) {
      const k = this.next++;
      const to = this.mode === 'group' ? `"conversationId":"${this.address}"` : `"to":"${this.address}${(k % this.recipients)}"`;
      this.send(`{"type":"send","messageId":"${this.idPrefix}${k}",${to},"body":"${this.bodies[k % this.bodies.length]}"}`);
    }
    if (this.done >= this.target) this.wake();
  }

  /** Runs messages up to `upTo` (exclusive) and resolves when every one reached every recipient. */
  run(upTo: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = () => {};
        reject(new Error(`${this.mode}: ${this.done}/${upTo} messages fully delivered after ${timeoutMs} ms (SENT acks ${this.acks}, frames received ${this.received}, duplicates ${this.duplicates}; ${this.problems.join('; ')})`));
      }, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = () => {};
        resolve();
      };
      this.target = upTo;
      this.pump();
    });
  }
}

interface ModeRun {
  mode: Mode;
  messages: number;
  frames: number;
  w: Window;
  /** --confirm: receipt frames received by members and sender during the window. */
  receipts: number;
}

interface FanoutRun {
  subject: string;
  members: number;
  runs: ModeRun[];
  connectMs: number;
}

async function postJson(url: string, token: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

async function runOne(
  ctx: BenchContext,
  build: ServerBuild,
  o: { members: number; messages: number; warmup: number; window: number; windowDirect: number; modes: Mode[]; confirm: boolean },
  problems: string[],
  dbUri: string,
): Promise<FanoutRun> {
  const recipientsN = o.members - 1;
  const server = await startOurServer(build, { dbUri, env: FANOUT_ENV(o.members), cpuProfDir: ctx.profileDir, nofile: o.members + 1024 });
  const members: RawWs[] = [];
  let sender: WebSocket | undefined;
  try {
    const tag = runTag();
    const base = `http://127.0.0.1:${server.port}`;
    const senderId = `bench-gf-${tag}-s`;
    const recipientPrefix = `bench-gf-${tag}-m`;
    const recipientIds = Array.from({ length: recipientsN }, (_, r) => `${recipientPrefix}${r}`);
    const senderToken = await signTestToken(senderId, BENCH_JWT_SECRET);
    const tokens = await signTestTokens(recipientIds, BENCH_JWT_SECRET);

    const created = await postJson(`${base}/api/conversations`, senderToken, { title: `bench ${tag}`, members: recipientIds });
    if (created.status !== 201 || typeof created.json.conversationId !== 'string') {
      throw new Error(`POST /api/conversations answered ${created.status}: ${JSON.stringify(created.json).slice(0, 200)}`);
    }
    const conversationId = created.json.conversationId;

    // The loads exist before the sockets: frames are routed to whichever mode they belong to.
    const bodies = makeBodyPool(50, 500);
    let send: (frame: string) => void = () => {};
    const sendVia = (frame: string) => send(frame);
    const group = new Load('group', tag, recipientsN, o.warmup + o.messages, o.window, sendVia, conversationId, bodies);
    const direct = new Load('direct', tag, recipientsN, (o.warmup + o.messages) * recipientsN, o.windowDirect, sendVia, recipientPrefix, bodies);
    const unexpected: string[] = [];
    const closedEarly: (number | undefined)[] = [];
    let receipts = 0;
    let senderReceipts = 0;
    // --confirm: each member sends one watermark per event-loop turn for the newest seq it got, in the
    // group or in its direct conversation with the sender.
    const confirmTo = new Map<number, { conversationId: string; seq: number }>();
    let confirmQueued = false;
    const flushConfirms = () => {
      confirmQueued = false;
      for (const [r, c] of confirmTo) members[r]?.send(`{"type":"delivered","conversationId":"${c.conversationId}","seq":${c.seq}}`);
      confirmTo.clear();
    };
    if (o.confirm) {
      const queue = (r: number, conversationId: string, seq: number) => {
        const c = confirmTo.get(r);
        if (c && c.conversationId === conversationId) c.seq = Math.max(c.seq, seq);
        else confirmTo.set(r, { conversationId, seq });
        if (!confirmQueued) {
          confirmQueued = true;
          setImmediate(flushConfirms);
        }
      };
      group.onSeq = (r, seq) => queue(r, conversationId, seq);
      direct.onSeq = (r, seq) => queue(r, directConversationId(senderId, recipientIds[r]!), seq);
    }

    ctx.log(`group-fanout: ${build.label}: connecting ${recipientsN} members + the sender`);
    const t0 = performance.now();
    const port = server.port;
    // 128 upgrades in flight at a time.
    for (let i = 0; i < recipientsN; i += 128) {
      const batch = await Promise.all(
        recipientIds.slice(i, i + 128).map((id, j) =>
          openRawWs(
            {
              host: '127.0.0.1',
              port,
              path: '/ws?device=gf', // a named device: a v1 socket (no query) is sent no group messages
              token: tokens.get(id)!,
              timeoutMs: 20_000,
              onText: (payload) => {
                const r = i + j;
                if (group.onFrame(r, payload) || direct.onFrame(r, payload)) return;
                if (o.confirm && payload.indexOf(TYPE_RECEIPT) >= 0) receipts++;
                else if (unexpected.length < 5) unexpected.push(payload.toString().slice(0, 160));
              },
            },
            (code) => closedEarly.push(code),
          ),
        ),
      );
      members.push(...batch);
    }
    sender = await openWs(`ws://127.0.0.1:${port}/ws`, {
      token: senderToken,
      timeoutMs: 10_000,
      onFrame: (text) => {
        if (text.includes('"type":"ready"')) return;
        if (o.confirm && text.includes('"type":"receipt"')) return void senderReceipts++;
        if (!group.onAck(text) && !direct.onAck(text) && unexpected.length < 5) unexpected.push(`sender: ${text.slice(0, 160)}`);
      },
    });
    send = corkingSender(sender);
    const connectMs = performance.now() - t0;

    const timeoutMs = 60_000 + o.messages * recipientsN * 0.2;
    const runs: ModeRun[] = [];
    // Warm-up in both modes first (JIT, store maps), then the measured windows: direct, then group.
    ctx.log(`group-fanout: ${build.label}: warm-up (${o.warmup} group messages, ${o.warmup * recipientsN} direct sends)`);
    if (o.modes.includes('group')) await group.run(o.warmup, timeoutMs);
    if (o.modes.includes('direct')) await direct.run(o.warmup * recipientsN, timeoutMs);
    for (const load of [direct, group].filter((l) => o.modes.includes(l.mode))) {
      const n = load.mode === 'group' ? o.messages : o.messages * recipientsN;
      const from = load.mode === 'group' ? o.warmup : o.warmup * recipientsN;
      ctx.log(`group-fanout: ${build.label}: ${load.mode}: ${n} messages → ${n * load.fanout} delivered frames`);
      const r0 = receipts + senderReceipts;
      const w = await timed(server.pid, () => load.run(from + n, timeoutMs));
      runs.push({ mode: load.mode, messages: n, frames: n * load.fanout, w, receipts: receipts + senderReceipts - r0 });
    }
    // Everything sent was acked: the acks trail the deliveries by at most a turn.
    const acksDue = () => [group, direct].every((l) => !o.modes.includes(l.mode) || l.acks === l.total);
    for (let i = 0; i < 50 && !acksDue(); i++) await new Promise((r) => setTimeout(r, 20));

    for (const load of [group, direct].filter((l) => o.modes.includes(l.mode))) {
      const label = `${build.label} ${load.mode}`;
      problems.push(...load.problems.map((p) => `${label}: ${p}`));
      if (load.duplicates) problems.push(`${label}: ${load.duplicates} message frames received twice (duplicated)`);
      if (load.outOfOrder) problems.push(`${label}: ${load.outOfOrder} message frames out of seq order`);
      if (load.acks !== load.total) problems.push(`${label}: ${load.acks} SENT acks for ${load.total} sends`);
      const expected = load.total * load.fanout;
      if (load.received !== expected) problems.push(`${label}: ${load.received} of ${expected} message frames received (lost)`);
    }
    if (closedEarly.length) problems.push(`${build.label}: ${closedEarly.length} member connections closed by the server (codes ${[...new Set(closedEarly)].join(', ')})`);
    if (unexpected.length) problems.push(`${build.label}: unexpected frames: ${unexpected.join(' | ')}`);
    return { subject: build.label, members: o.members, runs, connectMs };
  } finally {
    if (sender) await closeWs(sender);
    await Promise.all(members.map((m) => m.close(1000)));
    await stopServer(server, ctx.profileDir !== undefined);
  }
}

export async function runGroupFanout(ctx: BenchContext): Promise<BenchResult> {
  const a = ctx.args;
  const o = {
    members: a.num('members', ctx.smoke ? 100 : 1000),
    messages: a.num('group-messages', ctx.smoke ? 50 : 100),
    warmup: a.num('group-warmup', ctx.smoke ? 5 : 20),
    window: a.num('group-window', 4),
    windowDirect: a.num('window-direct', ctx.smoke ? 256 : 1024),
    modes: (a.str('modes') ?? 'group,direct').split(',') as Mode[],
    confirm: a.has('confirm'),
  };
  for (const m of o.modes) if (m !== 'group' && m !== 'direct') throw new Error(`--modes: unknown mode "${m}" (group, direct)`);
  const store = await openBenchStore(a, 'bench_fanout');
  const result = newResult(
    'group-fanout',
    `Group fan-out: one sender into a group of M members, all connected, vs the same frames as 1:1 sends (${store.note ? 'MongoDB' : 'mem'})`,
    `M=${o.members} members incl. the sender (${o.members - 1} recipient sockets, one per member)${store.note || ', DB_URI=mem'}; group: ${o.messages} messages measured after ${o.warmup} warm-up, ` +
      `${o.window} in flight (closed loop on full delivery); direct: the same number of delivered frames as ${o.messages}×${o.members - 1} 1:1 sends from the same sender to the same members in turn, ` +
      `${o.windowDirect} in flight; bodies 50–500 B; ${o.confirm ? 'members confirm by watermark once per turn (--confirm)' : 'members do not confirm'}; env ${Object.entries(FANOUT_ENV(o.members)).map(([k, v]) => `${k}=${v}`).join(' ')}`,
  );
  const runs: FanoutRun[] = [];
  try {
    for (const build of ctx.ours) {
      try {
        runs.push(await runOne(ctx, build, o, result.problems, store.uri()));
      } catch (e) {
        result.problems.push(`${build.label}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } finally {
    await store.close();
  }
  const perFrame = (r: ModeRun) => r.w.serverCpuUs / r.frames;
  const rate = (r: ModeRun) => (r.frames / r.w.ms) * 1000;
  result.details.push({
    headers: ['server', 'mode', 'messages sent', 'delivered frames', 'receipt frames', 'frames/s', 'server CPU µs/frame', 'server CPU µs/message sent', 'server core %', 'generator core %', 'other core %'],
    rows: runs.flatMap((f) =>
      f.runs.map((r) => [
        f.subject,
        r.mode,
        r.messages,
        r.frames,
        r.receipts,
        fmt(rate(r)),
        fmt(perFrame(r)),
        fmt(r.w.serverCpuUs / r.messages),
        fmt((r.w.serverCpuUs / 1000 / r.w.ms) * 100),
        fmt((r.w.selfCpuUs / 1000 / r.w.ms) * 100),
        fmt(r.w.otherCorePct),
      ]),
    ),
  });
  const main = runs.find((r) => r.subject === ctx.ours[0]!.label);
  const g = main?.runs.find((r) => r.mode === 'group');
  const d = main?.runs.find((r) => r.mode === 'direct');
  if (g && d) {
    const full = main!.members >= 1000;
    const q = perFrame(g) / perFrame(d);
    result.figures.push({
      name: `group of ${main!.members}${o.confirm ? ', members confirm' : ''}: server CPU per delivered frame`,
      value: perFrame(g),
      unit: 'µs/frame',
      baseline: { name: 'direct, same frames', value: perFrame(d) },
      target: full ? { text: '≤ 1.5× direct', met: q <= 1.5 } : undefined,
      otherCorePct: g.w.otherCorePct,
    });
    result.figures.push({ name: `group of ${main!.members}${o.confirm ? ', members confirm' : ''}: delivered frames/s`, value: rate(g), unit: 'frames/s', baseline: { name: 'direct', value: rate(d) }, otherCorePct: g.w.otherCorePct });
    // One line for logs and scripts (bench/run.ts records the figures above).
    const line =
      `group-fanout: members=${main!.members}${o.confirm ? ' confirm' : ''} group ${fmt(rate(g))} frames/s ${fmt(perFrame(g))} µs/frame; ` +
      `direct ${fmt(rate(d))} frames/s ${fmt(perFrame(d))} µs/frame; ratio ${q.toFixed(2)}x (target ≤ 1.5x)`;
    result.notes.push(line);
    ctx.log(line);
  }
  for (const b of ctx.ours.slice(1)) {
    const other = runs.find((r) => r.subject === b.label)?.runs.find((r) => r.mode === 'group');
    if (g && other) result.figures.push({ name: `group fan-out µs/frame, ${ctx.ours[0]!.label} vs ${b.label}`, value: perFrame(g), unit: 'µs/frame', baseline: { name: b.label, value: perFrame(other) } });
  }
  result.notes.push(
    'Server CPU is utime+stime of the server process (/proc/<pid>/stat, all threads) over the measured window, divided by the message frames delivered in it. The direct figure includes the whole send (parse, persist, SENT ack) for each frame; the group pays it once per M-1 frames.',
    'Members are bare-socket clients that only parse enough of each frame to check exactly-once and order; the generator shares the 2 cores with the server, so frames/s is bounded by both.',
  );
  result.raw = { o, runs };
  return result;
}

if (isMain(import.meta.url)) await benchMain('group-fanout', async (ctx) => [await runGroupFanout(ctx)]);
