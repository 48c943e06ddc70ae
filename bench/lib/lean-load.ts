// A lean paced load generator (issue 16): the same offered load as ws-load.ts (WindowedRunner's
// loop, Pacer, ids, bodies, exactly-once flags), on raw TCP sockets instead of the `ws` package.
//
// Why: with 500 senders at 10/s, almost every frame is alone in its event-loop turn, and the `ws`
// client's per-frame costs (a masking pass, an 'message' event, a Buffer per frame, cork/uncork per
// socket) made the generator cost about as much per message as the server on a 2-core machine. Here:
// - client frames are masked with the all-zero key (RFC 6455 lets the client pick any key; XOR with
//   zero leaves the payload as it is), so a frame is a header plus the string, written in place;
// - every socket's frames of one tick go out in one write, from one process.nextTick for all sockets;
// - incoming frames are parsed in place; acks and pushes are read with indexOf, not JSON.parse.
//
// Modes: 'chat' (ours: send → SENT ack, message → delivered → DELIVERED ack), 'echo' (bare uWS echo),
// 'centrifugo' (Centrifugo's JSON protocol: connect with a JWT; publish into the recipient's personal
// channel; the publish reply is the ack, the push to the recipient the delivery).

import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeMessageId } from './bodies.js';
import { epochNow, type PairSpec, type ThreadConfig } from './load-types.js';
import type { ThreadHandle } from './load-threads.js';
import { Sender, WindowedRunner, sendFrame } from './load-window.js';
import { runWsLoad, type LoadReport, type WsLoadOptions } from './ws-load.js';

export type LeanMode = 'chat' | 'echo' | 'centrifugo';

export interface LeanLoadOptions extends Omit<WsLoadOptions, 'mode' | 'workers' | 'connectRetries'> {
  mode: LeanMode;
}

/** runWsLoad's orchestration and report, with the lean runner in this thread. */
export function runLeanLoad(o: LeanLoadOptions): Promise<LoadReport> {
  const { mode, ...rest } = o;
  return runWsLoad({ ...rest, mode: mode === 'echo' ? 'echo' : 'chat', createThread: (cfg) => leanThread(cfg, mode) });
}

/**
 * Server memory per idle connection: RSS before, then `pairs` pairs connected and idle for `settleMs`
 * (2 × pairs connections; echo: pairs), RSS again; the connections are closed before returning.
 */
export async function idleMemory(o: { url: string; mode: LeanMode; pairs: number; serverPid: number; tokenFor: (user: string) => Promise<string>; settleMs?: number }): Promise<{ connections: number; bytesPerConnection: number }> {
  const tag = Math.random().toString(16).slice(2, 10);
  const pairs: PairSpec[] = await Promise.all(
    Array.from({ length: o.pairs }, async (_, i) => {
      const senderId = `bench-idle-${tag}-s${i}`;
      const recipientId = `bench-idle-${tag}-r${i}`;
      return { index: i, senderId, recipientId, senderToken: await o.tokenFor(senderId), recipientToken: await o.tokenFor(recipientId) };
    }),
  );
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${o.serverPid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
  const runner = new LeanRunner({ mode: o.mode === 'echo' ? 'echo' : 'chat', url: o.url, window: 1, pairs, tag, bodyMin: 50, bodyMax: 60, drainMs: 1000, connectTimeoutMs: 60_000, auth: 'header' }, o.mode);
  await new Promise((r) => setTimeout(r, o.settleMs ?? 2000));
  const before = rss();
  try {
    await runner.connect();
    await new Promise((r) => setTimeout(r, o.settleMs ?? 2000));
    const connections = o.mode === 'echo' ? o.pairs : 2 * o.pairs;
    return { connections, bytesPerConnection: (rss() - before) / connections };
  } finally {
    await runner.close();
  }
}

function leanThread(cfg: ThreadConfig, mode: LeanMode): ThreadHandle {
  const runner = new LeanRunner(cfg, mode);
  return {
    connected: runner.connect(),
    start: (budget) => runner.start(budget),
    finished: runner.finished,
    stop: () => runner.stop(),
    close: () => runner.close(),
  };
}

// ── the connection ────────────────────────────────────────────────────────────────────────────

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Sockets with frames queued this tick; flushed together in one nextTick. */
const dirty: LeanWs[] = [];
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

class LeanWs {
  private out: string[] = [];
  private outOps: number[] = [];
  private outBytes = 0;
  private buf: Buffer | undefined;
  private upgraded = false;
  closed = false;
  closeCode: number | undefined;

  constructor(
    readonly socket: Socket,
    private readonly onText: (text: string) => void,
  ) {}

  /** Queue a text frame (ASCII only: ids, user ids and bodies of the generator are). */
  send(text: string, op = OP_TEXT): void {
    if (this.out.length === 0) {
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushDirty);
      }
    }
    this.out.push(text);
    this.outOps.push(op);
    const n = text.length;
    this.outBytes += n + (n < 126 ? 6 : n < 65536 ? 8 : 14);
  }

  flush(): void {
    if (this.out.length === 0 || this.socket.destroyed) return;
    const b = Buffer.allocUnsafe(this.outBytes);
    let off = 0;
    for (let i = 0; i < this.out.length; i++) {
      const text = this.out[i]!;
      const n = text.length;
      b[off++] = 0x80 | this.outOps[i]!;
      if (n < 126) b[off++] = 0x80 | n;
      else if (n < 65536) {
        b[off++] = 0x80 | 126;
        b.writeUInt16BE(n, off);
        off += 2;
      } else {
        b[off++] = 0x80 | 127;
        b.writeBigUInt64BE(BigInt(n), off);
        off += 8;
      }
      b.writeUInt32BE(0, off); // the masking key: zero, so the payload goes as it is
      off += 4;
      off += b.write(text, off, 'latin1');
    }
    this.out = [];
    this.outOps = [];
    this.outBytes = 0;
    this.socket.write(b);
  }

  /** Bytes from the socket: the upgrade answer first (resolves `upgraded`), then frames. */
  data(chunk: Buffer, upgraded: () => void, refused: (e: Error) => void): void {
    let buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    this.buf = undefined;
    if (!this.upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return void (this.buf = buf);
      const status = buf.toString('latin1', 0, buf.indexOf('\r\n'));
      if (!status.startsWith('HTTP/1.1 101')) return refused(new Error(`upgrade refused: ${status}`));
      this.upgraded = true;
      buf = buf.subarray(end + 4);
      upgraded();
    }
    let off = 0;
    const len = buf.length;
    while (len - off >= 2) {
      const op = buf[off]! & 0x0f;
      let n = buf[off + 1]! & 0x7f;
      let head = 2;
      if (n === 126) {
        if (len - off < 4) break;
        n = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (n === 127) {
        if (len - off < 10) break;
        n = Number(buf.readBigUInt64BE(off + 2));
        head = 10;
      }
      if (len - off < head + n) break;
      const start = off + head;
      off = start + n;
      if (op === OP_TEXT) this.onText(buf.toString('utf8', start, off));
      else if (op === OP_PING) this.send(buf.toString('latin1', start, off), OP_PONG);
      else if (op === OP_CLOSE) {
        this.closeCode = n >= 2 ? buf.readUInt16BE(start) : 1005;
        this.closed = true;
        this.socket.end();
      }
      // Fragmented frames (op 0) do not occur: servers send these small frames whole.
    }
    if (off < len) this.buf = buf.subarray(off);
  }

  close(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      const t = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.closed = true;
      this.send('\x03\xe8', OP_CLOSE);
      this.flush();
      this.socket.end();
    });
  }
}

/** Source addresses rotate over 127.0.0.2–17: many connections stay under a per-address limit (ours: 1000). */
let nextSource = 0;

/** The connection at once (frames right behind the 101 may be handled before `upgraded` settles). */
function openLean(url: string, headers: string, timeoutMs: number, onText: (text: string) => void, onClose: (code: number | undefined) => void): { ws: LeanWs; upgraded: Promise<LeanWs> } {
  const u = new URL(url);
  const host = u.hostname;
  const port = Number(u.port);
  const localAddress = host === '127.0.0.1' ? `127.0.0.${2 + (nextSource++ % 16)}` : undefined;
  const socket = tcpConnect({ host, port, noDelay: true, localAddress });
  const ws = new LeanWs(socket, onText);
  const upgraded = new Promise<LeanWs>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error('upgrade timed out')), timeoutMs);
    socket.once('error', fail);
    socket.on('close', () => {
      if (!settled) return fail(new Error('closed during upgrade'));
      onClose(ws.closeCode);
    });
    socket.on('connect', () => {
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) =>
      ws.data(
        chunk,
        () => {
          settled = true;
          clearTimeout(timer);
          socket.on('error', () => {});
          resolve(ws);
        },
        fail,
      ),
    );
  });
  return { ws, upgraded };
}

// ── the runner ────────────────────────────────────────────────────────────────────────────────

const SENT_ACK = 1;
const DELIVERED_ACK = 2;
const RECEIVED = 4;
const ERRORED = 8;

/** The string value of `"key":"…"` in a flat JSON text, or undefined; values never hold quotes here. */
export function field(text: string, key: string, from = 0): string | undefined {
  const at = text.indexOf(key, from);
  if (at < 0) return undefined;
  const start = at + key.length;
  const end = text.indexOf('"', start);
  return end < 0 ? undefined : text.slice(start, end);
}

class Pair extends Sender {
  sender!: LeanWs;
  recipient!: LeanWs;
  sentAt = new Float64Array(1024);
  flags = new Uint8Array(1024);
  inflight = 0;
  pendingDelivered: string[] = [];
  /** Echo: the frames in flight, in order. Centrifugo: reply id → seq is id - 1. */
  echoFrames: string[] = [];
  echoHead = 0;
  /** Centrifugo: the command id of the next command on each socket (connect/subscribe took 1). */
  nextCmdId = 2;

  slot(seq: number): void {
    if (seq < this.flags.length) return;
    const n = Math.max(this.flags.length * 2, seq + 1);
    const sentAt = new Float64Array(n);
    sentAt.set(this.sentAt);
    const flags = new Uint8Array(n);
    flags.set(this.flags);
    this.sentAt = sentAt;
    this.flags = flags;
  }
}

export class LeanRunner extends WindowedRunner<Pair> {
  private readonly conns: LeanWs[] = [];

  constructor(
    cfg: ThreadConfig,
    private readonly mode: LeanMode,
  ) {
    super(cfg, (p) => new Pair(p));
  }

  async connect(): Promise<void> {
    // In batches, so a thousand upgrades do not all wait on one accept queue.
    for (let i = 0; i < this.senders.length; i += 100) {
      await Promise.all(this.senders.slice(i, i + 100).map((p) => this.connectPair(p)));
    }
  }

  private async connectPair(p: Pair): Promise<void> {
    if (this.mode === 'echo') {
      p.sender = await this.open(p.spec.senderToken, (t) => this.onEcho(p, t));
      return;
    }
    // Recipient first, so nothing the sender sends can arrive before it exists.
    p.recipient = await this.open(p.spec.recipientToken, (t) => this.onRecipientText(p, t), true);
    p.sender = await this.open(p.spec.senderToken, (t) => this.onSenderText(p, t), true);
  }

  private open(token: string | undefined, onText: (t: string) => void, waitReady = false): Promise<LeanWs> {
    const cf = this.mode === 'centrifugo';
    const headers = token && !cf ? `Authorization: Bearer ${token}\r\n` : '';
    return new Promise<LeanWs>((resolve, reject) => {
      let ready = !waitReady;
      const timer = setTimeout(() => reject(new Error('no ready / connect reply')), this.cfg.connectTimeoutMs);
      const handle = (t: string): void => {
        // Ours with `?batch=1` (protocol v1.4): the frames of one write in one text frame, one a line.
        if (!cf && t.includes('\n')) {
          for (const line of t.split('\n')) handle(line);
          return;
        }
        if (!ready) {
          // Ours: {"type":"ready",…}; Centrifugo: the connect reply {"id":1,"connect":{…}} (or an error).
          if (cf ? t.startsWith('{"id":1,') : t.includes('"type":"ready"')) {
            if (cf && !t.includes('"connect"')) return reject(new Error(`centrifugo connect refused: ${t.slice(0, 200)}`));
            ready = true;
            clearTimeout(timer);
            return resolve(ws);
          }
        }
        onText(t);
      };
      const { ws, upgraded } = openLean(this.cfg.url, headers, this.cfg.connectTimeoutMs, handle, (code) => {
        if (!ready) reject(new Error(`closed before ready: ${code}`));
        else if (!this.stopping) this.c.error(`closed-${code}`);
      });
      upgraded.then((w) => {
        this.conns.push(w);
        if (cf) w.send(`{"id":1,"connect":{"token":"${token}","name":"bench"}}`);
        if (!waitReady) {
          clearTimeout(timer);
          resolve(w);
        }
      }, reject);
    });
  }

  protected send(p: Pair, seq: number, id: string, body: string): void {
    p.slot(seq);
    p.inflight++;
    p.sentAt[seq] = performance.now();
    if (this.mode === 'centrifugo') {
      // Command id = seq + 2 (1 was connect): the reply names the send without any lookup table.
      p.sender.send(`{"id":${seq + 2},"publish":{"channel":"personal:#${p.spec.recipientId}","data":{"messageId":"${id}","body":"${body}"}}}`);
      return;
    }
    const frame = sendFrame(id, p.spec.recipientId, body);
    if (this.mode === 'echo') p.echoFrames.push(frame);
    p.sender.send(frame);
  }

  private lookup(p: Pair, id: string | undefined): number {
    const d = id === undefined ? undefined : decodeMessageId(id, this.cfg.tag);
    if (!d || d.pair !== p.spec.index || d.seq >= p.nextSeq) return -1;
    return d.seq;
  }

  private acked(p: Pair, seq: number, now: number): void {
    const flags = p.flags[seq]!;
    if (flags & SENT_ACK) return void this.c.duplicateAcks++;
    p.flags[seq] = flags | SENT_ACK;
    this.c.acked++;
    this.c.lastEventAt = epochNow();
    this.c.ack.recordMs(now - p.sentAt[seq]!);
    if (!(flags & ERRORED)) {
      p.inflight--;
      this.refill(p);
    }
  }

  private onEcho(p: Pair, text: string): void {
    if (p.inflight === 0) return this.c.odd('unsolicited');
    const i = p.echoHead++;
    if (text !== p.echoFrames[i]) this.c.error('echo-mismatch');
    if (p.echoHead > 4096) {
      p.echoFrames.splice(0, p.echoHead);
      p.echoHead = 0;
    }
    this.acked(p, p.nextSeq - p.inflight, performance.now());
  }

  private onSenderText(p: Pair, text: string): void {
    const now = performance.now();
    if (this.mode === 'centrifugo') {
      // Replies may come several to a frame, one JSON object a line.
      for (const line of text.split('\n')) {
        if (line === '{}') {
          p.sender.send('{}'); // server ping → pong
          continue;
        }
        const m = /^\{"id":(\d+),"(publish|error)"/.exec(line);
        if (!m) {
          this.c.odd(`sender-${line.slice(0, 40)}`);
          continue;
        }
        const seq = Number(m[1]) - 2;
        if (seq < 0 || seq >= p.nextSeq) {
          this.c.odd('foreign-id');
          continue;
        }
        if (m[2] === 'error') {
          this.c.error(`publish-${field(line, '"code":') ?? line.slice(0, 60)}`);
          p.flags[seq] = p.flags[seq]! | ERRORED;
          p.inflight--;
          this.refill(p);
          continue;
        }
        this.acked(p, seq, now);
      }
      return;
    }
    if (text.startsWith('{"type":"ack"')) {
      const seq = this.lookup(p, field(text, '"messageId":"'));
      if (seq < 0) return this.c.odd('foreign-id');
      if (text.startsWith('"SENT"', 23)) {
        if (text.includes('"duplicate":true')) this.c.serverDuplicateFlags++;
        return this.acked(p, seq, now);
      }
      if (!text.startsWith('"DELIVERED"', 23)) return this.c.odd('ack-other');
      const flags = p.flags[seq]!;
      if (flags & DELIVERED_ACK) return void this.c.duplicateAcks++;
      p.flags[seq] = flags | DELIVERED_ACK;
      this.c.deliveredAcks++;
      this.c.delivered.recordMs(now - p.sentAt[seq]!);
      return;
    }
    if (text.startsWith('{"type":"receipt"')) return; // v1.1 read/delivery receipts: expected, not counted
    this.otherFrame('sender', p, text);
  }

  private otherFrame(role: string, p: Pair, text: string): void {
    let f: { type?: string; code?: string; messageId?: string };
    try {
      f = JSON.parse(text) as typeof f;
    } catch {
      return this.c.odd('non-json');
    }
    if (f.type !== 'error') return this.c.odd(`${role}-${f.type}`);
    this.c.error(`${role === 'sender' ? '' : `${role}-`}${String(f.code ?? 'unknown')}`);
    const seq = role === 'sender' ? this.lookup(p, f.messageId) : -1;
    if (seq >= 0 && !(p.flags[seq]! & (SENT_ACK | ERRORED))) {
      p.flags[seq] = p.flags[seq]! | ERRORED;
      p.inflight--;
      this.refill(p);
    }
  }

  private received(p: Pair, id: string | undefined): boolean {
    const seq = this.lookup(p, id);
    if (seq < 0) {
      this.c.odd('foreign-id');
      return false;
    }
    const flags = p.flags[seq]!;
    if (flags & RECEIVED) {
      this.c.duplicated++;
      return true;
    }
    p.flags[seq] = flags | RECEIVED;
    this.c.received++;
    this.c.lastEventAt = epochNow();
    if (this.mode === 'centrifugo') {
      // No confirmation in Centrifugo's protocol: the push is the delivery.
      p.flags[seq] = flags | RECEIVED | DELIVERED_ACK;
      this.c.deliveredAcks++;
      this.c.delivered.recordMs(performance.now() - p.sentAt[seq]!);
    }
    return true;
  }

  private onRecipientText(p: Pair, text: string): void {
    if (this.mode === 'centrifugo') {
      for (const line of text.split('\n')) {
        if (line === '{}') {
          p.recipient.send('{}');
          continue;
        }
        if (line.startsWith('{"push":')) this.received(p, field(line, '"messageId":"'));
        else this.c.odd(`recipient-${line.slice(0, 40)}`);
      }
      return;
    }
    if (text.startsWith('{"type":"message"')) {
      const id = field(text, '"messageId":"');
      this.received(p, id);
      // A real client acknowledges whatever it got, duplicates included: one frame per read.
      if (id !== undefined) this.queueDelivered(p, id);
      return;
    }
    if (text.startsWith('{"type":"receipt"')) return;
    this.otherFrame('recipient', p, text);
  }

  // All messages of one read (one tick) are confirmed in one `delivered` frame.
  private queueDelivered(p: Pair, id: string): void {
    if (p.pendingDelivered.length === 0) process.nextTick(() => this.flushDelivered(p));
    p.pendingDelivered.push(id);
  }

  private flushDelivered(p: Pair): void {
    const ids = p.pendingDelivered;
    p.pendingDelivered = [];
    for (let i = 0; i < ids.length; i += 1000) p.recipient.send(`{"type":"delivered","messageIds":["${ids.slice(i, i + 1000).join('","')}"]}`);
  }

  protected override settled(): boolean {
    const c = this.c;
    if (this.mode === 'echo') return this.idle();
    return this.idle() && c.received >= c.acked && c.deliveredAcks >= c.acked;
  }

  protected override countUnsettled(): void {
    if (this.mode === 'echo') return super.countUnsettled();
    for (const p of this.senders) {
      for (let s = 0; s < p.nextSeq; s++) {
        const f = p.flags[s]!;
        if (!(f & (SENT_ACK | ERRORED))) this.c.unacked++;
        if (f & SENT_ACK && !(f & RECEIVED)) this.c.lost++;
        if (f & SENT_ACK && !(f & DELIVERED_ACK)) this.c.undelivered++;
      }
    }
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.conns.map((w) => w.close(1000)));
  }
}

export type { PairSpec };
