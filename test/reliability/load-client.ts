// The load the fault tests run: senders that pipeline messages and retry every unacked one with the
// same messageId after any failure or reconnect, and recipients (some always online, some flaky) that
// confirm what they get. Every client reconnects with jittered exponential backoff to a URL that may
// point at a server being killed and restarted. Everything seen is recorded for the final accounting.
import WebSocket from 'ws';
import { prng } from './fuzz-cases.js';

type Frame = Record<string, unknown> & { type: string };

export interface SentMessage {
  readonly from: string;
  readonly to: string;
  readonly body: string;
}

/** A WebSocket that reconnects after every close, with backoff (50 ms doubling to 1 s, ±50% jitter). */
export class ReconnectingSocket {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** Set while this side closes the socket: its close code is not the server's doing. */
  private closingHere = false;
  open = false;
  connects = 0;
  /** Close codes seen after an open (1001 = the server shut down gracefully, 1006 = it vanished). */
  readonly closeCodes = new Map<number, number>();

  constructor(
    private readonly url: () => string,
    private readonly token: string,
    private readonly random: () => number,
    private readonly handlers: { onOpen(): void; onFrame(frame: Frame): void; onClose(byServer: boolean): void },
  ) {}

  start(): void {
    this.stopped = false;
    if (!this.ws && !this.timer) this.connect();
  }

  private connect(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const ws = new WebSocket(this.url(), { headers: { authorization: `Bearer ${this.token}` } });
    this.ws = ws;
    ws.on('open', () => {
      this.attempt = 0;
      this.open = true;
      this.connects++;
      this.handlers.onOpen();
    });
    ws.on('message', (data) => this.handlers.onFrame(JSON.parse(data.toString()) as Frame));
    ws.on('error', () => {}); // a close follows
    ws.on('close', (code) => {
      const wasOpen = this.open;
      const byServer = !this.closingHere;
      if (wasOpen && byServer) this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
      this.closingHere = false;
      this.open = false;
      this.ws = undefined;
      if (wasOpen) this.handlers.onClose(byServer && code === 1006);
      if (!this.stopped) {
        const delay = Math.min(1000, 50 * 2 ** this.attempt++) * (0.5 + this.random());
        this.timer = setTimeout(() => this.connect(), delay);
      }
    });
  }

  send(value: unknown): boolean {
    if (!this.open || !this.ws) return false;
    this.ws.send(JSON.stringify(value));
    return true;
  }

  /** Goes offline (a clean close or a dropped connection) until `start()`. */
  stop(hard = false): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ws) this.closingHere = true;
    if (hard) this.ws?.terminate();
    else this.ws?.close();
  }
}

export class Sender {
  readonly unacked = new Map<string, SentMessage>();
  /** messageId → the `ts` of its first SENT ack. */
  readonly acked = new Map<string, number>();
  /** Local time of every SENT ack received (also repeats). */
  readonly ackTimes: number[] = [];
  /** messageId → local time of its first SENT ack: it was stored by then (`ts` is when it was accepted). */
  readonly ackedAt = new Map<string, number>();
  readonly deliveredAcks = new Map<string, number>();
  /** messageId → local time of its first DELIVERED ack: its confirmation was recorded whole by then. */
  readonly deliveredAckAt = new Map<string, number>();
  readonly violations: string[] = [];
  resends = 0;
  duplicateAcks = 0;
  unavailable = 0;
  /** For each unavailable / rate_limited answer, ms since that message was last written. */
  readonly refusalWaits: number[] = [];
  private readonly lastWriteAt = new Map<string, number>();
  private generating = true;
  private count = 0;
  /** New messages allowed now (paced at `ratePerSec`, at most a window's worth saved up). */
  private budget = 0;
  private pacer: NodeJS.Timeout | undefined;
  readonly socket: ReconnectingSocket;
  private readonly random: () => number;

  constructor(
    readonly userId: string,
    token: string,
    url: () => string,
    private readonly recipients: readonly string[],
    private readonly registry: Map<string, SentMessage>,
    private readonly window: number,
    private readonly ratePerSec: number,
    seed: number,
    /** Keep creating messages while disconnected (an app's outbox), all sent at the next connect. */
    private readonly queueWhileOffline = false,
  ) {
    this.random = prng(seed);
    this.socket = new ReconnectingSocket(url, token, this.random, {
      onOpen: () => {
        // Everything not acked is sent again with the same messageId (it may or may not be stored).
        for (const [messageId, message] of this.unacked) this.write(messageId, message, true);
        this.fill();
      },
      onFrame: (frame) => this.onFrame(frame),
      onClose: () => {},
    });
  }

  start(): void {
    this.socket.start();
    this.pacer = setInterval(() => {
      this.budget = Math.min(this.budget + 1, this.window);
      this.fill();
    }, 1000 / this.ratePerSec);
  }

  /** Stop creating messages; the ones not acked yet are still retried until they are. */
  stopGenerating(): void {
    this.generating = false;
    clearInterval(this.pacer);
  }

  get done(): boolean {
    return !this.generating && this.unacked.size === 0;
  }

  /** For failure reports. */
  describe(): string {
    return `${this.userId}: open=${this.socket.open} connects=${this.socket.connects} unacked=[${[...this.unacked.keys()].join(',')}] last=${JSON.stringify(this.lastFrames)}`;
  }
  private readonly lastFrames: unknown[] = [];

  close(): void {
    clearInterval(this.pacer);
    this.socket.stop();
  }

  private write(messageId: string, message: SentMessage, resend: boolean): void {
    if (!this.socket.send({ type: 'send', messageId, to: message.to, body: message.body })) return;
    this.lastWriteAt.set(messageId, Date.now());
    if (resend) this.resends++;
  }

  private fill(): void {
    while (this.generating && (this.socket.open || this.queueWhileOffline) && this.unacked.size < this.window && this.budget > 0) {
      this.budget--;
      const messageId = `${this.userId}-${(this.count++).toString(36)}`;
      const to = this.recipients[Math.floor(this.random() * this.recipients.length)]!;
      const message = { from: this.userId, to, body: `m ${messageId} ${this.random().toString(36).slice(2)}` };
      this.registry.set(messageId, message);
      this.unacked.set(messageId, message);
      this.write(messageId, message, false);
    }
  }

  private onFrame(frame: Frame): void {
    this.lastFrames.push(frame);
    if (this.lastFrames.length > 3) this.lastFrames.shift();
    const messageId = String(frame.messageId);
    if (frame.type === 'ack' && frame.status === 'SENT') {
      this.ackTimes.push(Date.now());
      const first = this.acked.get(messageId);
      if (first === undefined) {
        this.acked.set(messageId, Number(frame.ts));
        this.ackedAt.set(messageId, Date.now());
      }
      else if (first !== frame.ts) this.violations.push(`${messageId}: a repeated SENT ack changed ts ${first} → ${String(frame.ts)}`);
      if (frame.duplicate === true) this.duplicateAcks++;
      if (!this.registry.has(messageId) || this.registry.get(messageId)!.from !== this.userId) this.violations.push(`SENT ack for a message not sent: ${messageId}`);
      this.unacked.delete(messageId);
      this.lastWriteAt.delete(messageId);
      this.fill();
    } else if (frame.type === 'ack' && frame.status === 'DELIVERED') {
      this.deliveredAcks.set(messageId, (this.deliveredAcks.get(messageId) ?? 0) + 1);
      if (!this.deliveredAckAt.has(messageId)) this.deliveredAckAt.set(messageId, Date.now());
    } else if (frame.type === 'error') {
      const message = this.unacked.get(messageId);
      if (frame.code === 'unavailable' || frame.code === 'rate_limited') {
        this.unavailable++;
        const waited = Date.now() - (this.lastWriteAt.get(messageId) ?? Date.now());
        this.refusalWaits.push(waited);
        // Retry the same id after the server's hint, plus up to half of it again at random, as the SDK
        // does: clients told to come back together must not all come back in the same instant.
        if (message) setTimeout(() => this.unacked.has(messageId) && this.write(messageId, message, true), retryDelayMs(frame, this.random));
      } else {
        this.violations.push(`unexpected error ${JSON.stringify(frame)}`);
      }
    } else if (frame.type === 'message') {
      this.violations.push(`a sender received a message: ${JSON.stringify(frame)}`);
    }
  }
}

export interface RecipientOptions {
  /** Flaky recipients go on- and offline at random; the others stay connected. */
  readonly flaky: boolean;
  /** Probability that a confirmation is "lost" (never sent): the message must then be replayed. */
  readonly dropConfirmation: number;
}

export class Recipient {
  readonly received = new Map<string, number>();
  /** Local time of every receipt of each message (for the resend-after-confirmation check). */
  readonly receivedAt = new Map<string, number[]>();
  /** When a confirmation was refused (`unavailable` / `rate_limited`): its messages may come again. */
  readonly refusedConfirmationsAt: number[] = [];
  /** When the server vanished under this recipient (1006): a confirmation it had sent may be half-written. */
  readonly cutAt: number[] = [];
  /** Every close of its socket, whoever closed it (for the details of a resend: see accounting.ts). */
  readonly closedAt: number[] = [];
  /** When each of its connections opened (index: the connection's number, from 0). */
  readonly openedAt: number[] = [];
  /** The connection each receipt of a message came on (parallel to receivedAt). */
  readonly receivedOn = new Map<string, number[]>();
  /** The connection that first sent each message's confirmation. */
  readonly confirmedOn = new Map<string, number>();
  readonly confirmed = new Set<string>();
  readonly violations: string[] = [];
  readies = 0;
  lastReady: number | undefined;

  private toConfirm: string[] = [];
  private flushing = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private flaky: boolean;
  private toggleTimer: NodeJS.Timeout | undefined;
  readonly socket: ReconnectingSocket;
  private readonly random: () => number;
  private readyWaiters: ((replayed: number) => void)[] = [];

  constructor(
    readonly userId: string,
    token: string,
    url: () => string,
    private readonly registry: Map<string, SentMessage>,
    private readonly options: RecipientOptions,
    seed: number,
  ) {
    this.random = prng(seed);
    this.flaky = options.flaky;
    this.socket = new ReconnectingSocket(url, token, this.random, {
      onOpen: () => void this.openedAt.push(Date.now()),
      onFrame: (frame) => this.onFrame(frame),
      onClose: (vanished) => {
        this.toConfirm = [];
        this.closedAt.push(Date.now());
        if (vanished) this.cutAt.push(Date.now());
      },
    });
  }

  start(): void {
    this.socket.start();
    if (this.flaky) this.scheduleToggle(true);
  }

  /** Stop flapping and stay online (for the final drain). */
  settle(): void {
    this.flaky = false;
    clearTimeout(this.toggleTimer);
    this.socket.start();
  }

  get online(): boolean {
    return this.socket.open;
  }

  /** The current (or last) connection's number. */
  private get connection(): number {
    return this.openedAt.length - 1;
  }

  /** Sends `sync` and resolves the `replayed` count of the next `ready`. */
  sync(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (!this.socket.send({ type: 'sync' })) return reject(new Error(`${this.userId} is offline`));
      this.readyWaiters.push(resolve);
    });
  }

  close(): void {
    clearTimeout(this.toggleTimer);
    clearTimeout(this.resyncTimer);
    this.socket.stop();
  }

  private scheduleToggle(online: boolean): void {
    const ms = online ? 100 + this.random() * 1400 : 100 + this.random() * 1900;
    this.toggleTimer = setTimeout(() => {
      if (!this.flaky) return;
      if (online) this.socket.stop(this.random() < 0.5);
      else this.socket.start();
      this.scheduleToggle(!online);
    }, ms);
  }

  private onFrame(frame: Frame): void {
    if (frame.type === 'message') {
      const messageId = String(frame.messageId);
      const sent = this.registry.get(messageId);
      if (frame.to !== this.userId || !sent || sent.from !== frame.from || sent.to !== frame.to || sent.body !== frame.body) {
        this.violations.push(`${this.userId} saw a message it should not have: ${JSON.stringify(frame)}`);
        return;
      }
      this.received.set(messageId, (this.received.get(messageId) ?? 0) + 1);
      const times = this.receivedAt.get(messageId);
      if (times) times.push(Date.now());
      else this.receivedAt.set(messageId, [Date.now()]);
      const on = this.receivedOn.get(messageId);
      if (on) on.push(this.connection);
      else this.receivedOn.set(messageId, [this.connection]);
      if (this.random() < this.options.dropConfirmation) return;
      this.toConfirm.push(messageId);
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flushConfirmations());
      }
    } else if (frame.type === 'ready') {
      this.readies++;
      this.lastReady = Number(frame.replayed);
      for (const resolve of this.readyWaiters.splice(0)) resolve(Number(frame.replayed));
    } else if (frame.type === 'error' && (frame.code === 'unavailable' || frame.code === 'rate_limited')) {
      this.refusedConfirmationsAt.push(Date.now());
      // A confirmation was not recorded: its messages stay pending. Ask for them again after the
      // server's hint (jittered); the replay brings them and they are confirmed then.
      if (!this.resyncTimer) {
        this.resyncTimer = setTimeout(() => {
          this.resyncTimer = undefined;
          this.socket.send({ type: 'sync' });
        }, retryDelayMs(frame, this.random));
      }
    } else if (frame.type === 'error') {
      this.violations.push(`${this.userId} got ${JSON.stringify(frame)}`);
    } else if (frame.type === 'ack') {
      this.violations.push(`${this.userId} (a recipient) got an ack: ${JSON.stringify(frame)}`);
    }
  }

  private flushConfirmations(): void {
    this.flushing = false;
    const ids = this.toConfirm.splice(0, 1000);
    if (ids.length === 0) return;
    if (this.socket.send({ type: 'delivered', messageIds: ids })) {
      for (const id of ids) {
        this.confirmed.add(id);
        if (!this.confirmedOn.has(id)) this.confirmedOn.set(id, this.connection);
      }
    }
    if (this.toConfirm.length > 0) {
      this.flushing = true;
      setImmediate(() => this.flushConfirmations());
    }
  }
}

export interface LoadPlan {
  readonly senders: number;
  readonly recipients: number;
  /** Of the recipients, how many go on- and offline at random. */
  readonly flakyRecipients: number;
  /** Unacked messages each sender keeps in flight at most. */
  readonly window: number;
  /** New messages per second per sender at most (an open-loop rate, as real users have). */
  readonly ratePerSec: number;
  readonly dropConfirmation: number;
  readonly seed: number;
  /** Senders keep creating messages while disconnected and send them all at the next connect. */
  readonly queueWhileOffline?: boolean;
}

/** The whole load: start it, stop generating, wait for every send to be acked, settle the recipients. */
export class Load {
  readonly registry = new Map<string, SentMessage>();
  readonly senders: Sender[] = [];
  readonly recipients: Recipient[] = [];

  constructor(url: () => string, token: (userId: string) => string, plan: LoadPlan) {
    const recipientIds = Array.from({ length: plan.recipients }, (_, i) => `rcpt${i}`);
    for (let i = 0; i < plan.senders; i++) {
      const userId = `sndr${i}`;
      this.senders.push(new Sender(userId, token(userId), url, recipientIds, this.registry, plan.window, plan.ratePerSec, plan.seed * 1000 + i, plan.queueWhileOffline));
    }
    recipientIds.forEach((userId, i) => {
      const options = { flaky: i < plan.flakyRecipients, dropConfirmation: i < plan.flakyRecipients ? plan.dropConfirmation : 0 };
      this.recipients.push(new Recipient(userId, token(userId), url, this.registry, options, plan.seed * 1000 + 500 + i));
    });
  }

  start(): void {
    for (const client of [...this.recipients, ...this.senders]) client.start();
  }

  get acked(): number {
    return this.senders.reduce((sum, sender) => sum + sender.acked.size, 0);
  }

  /** Stops new messages and resolves once every message ever sent has a SENT ack. */
  async finishSending(timeoutMs: number): Promise<void> {
    for (const sender of this.senders) sender.stopGenerating();
    await waitFor(() => this.senders.every((sender) => sender.done), timeoutMs, () => `not acked:\n${this.senders.filter((s) => !s.done).map((s) => s.describe()).join('\n')}`);
  }

  /** All recipients online; `sync` until a replay brings nothing new, so every message is received and confirmed. */
  async drainRecipients(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const recipient of this.recipients) recipient.settle();
    await waitFor(() => this.recipients.every((r) => r.online), timeoutMs, () => 'recipients offline');
    await Promise.all(
      this.recipients.map(async (recipient) => {
        // Two empty replays in a row, some time apart: the confirmations of the last round are written.
        let empty = 0;
        let pause = 300;
        while (empty < 2) {
          if (Date.now() > deadline) throw new Error(`${recipient.userId} still receiving replays at the deadline`);
          // Offline for a moment (the server closed it, or it is reconnecting): its reconnect replays anyway.
          const replayed = await withTimeout(recipient.sync(), 15_000, `${recipient.userId} sync`).catch(() => -1);
          empty = replayed === 0 ? empty + 1 : 0;
          // Confirmations take a while on a slow store: back off instead of replaying the same messages again.
          pause = replayed === 0 ? 300 : Math.min(pause * 2, 4000);
          await new Promise((resolve) => setTimeout(resolve, pause));
        }
      }),
    );
  }

  close(): void {
    for (const client of [...this.senders, ...this.recipients]) client.close();
  }

  /** Sends refused only after waiting at least `ms` (a queue that let them time out), of all refusals. */
  slowRefusals(ms: number): { slow: number; refusals: number } {
    const waits = this.senders.flatMap((sender) => sender.refusalWaits);
    return { slow: waits.filter((wait) => wait >= ms).length, refusals: waits.length };
  }

  violations(): string[] {
    return [...this.senders, ...this.recipients].flatMap((client) => client.violations);
  }

  /** Close codes seen by every client, summed. */
  closeCodes(): Record<number, number> {
    const total: Record<number, number> = {};
    for (const client of [...this.senders, ...this.recipients]) {
      for (const [code, n] of client.socket.closeCodes) total[code] = (total[code] ?? 0) + n;
    }
    return total;
  }
}

/** The server's retryAfter (seconds; 0.2 s if none), plus up to half of it again at random. */
function retryDelayMs(frame: Frame, random: () => number): number {
  const ms = Number(frame.retryAfter ?? 0.2) * 1000;
  return ms * (1 + 0.5 * random());
}

export async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]);
}

export const SCALE = Number(process.env.RELIABILITY_SCALE ?? '1');
export const scaled = (n: number) => Math.max(1, Math.round(n * SCALE));
