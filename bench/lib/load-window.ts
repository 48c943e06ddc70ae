// The send loop every load mode shares: each connection keeps at most W sends
// in flight, optionally paced open-loop by a Pacer, until the thread's budget
// is used up. Kept in one place so chat, echo and Socket.IO offer exactly the
// same load and their figures stay comparable; each runner adds only its
// protocol: how a send goes on the wire and what frees a window slot.

import { encodeMessageId, idSalt, makeBodyPool } from './bodies.js';
import { Counters, waitUntil, type PairSpec, type ThreadConfig, type ThreadResult, type ThreadRunner } from './load-types.js';
import { Pacer, pumpRoundRobin } from './pacer.js';

/** Per-connection state the loop needs; runners subclass it for their own bookkeeping. */
export abstract class Sender {
  /** Sequence number of the next send: encoded in its message id and picks its body. */
  nextSeq = 0;
  readonly salt = idSalt();
  /** Sends not yet answered (acked, echoed or errored): what the window caps. */
  abstract readonly inflight: number;
  constructor(readonly spec: PairSpec) {}
}

/** Chat `send` frame, hand-built: ids, user ids and bodies never need escaping. Echo sends the same bytes. */
export const sendFrame = (id: string, to: string, body: string): string =>
  `{"type":"send","messageId":"${id}","to":"${to}","body":"${body}"}`;

export abstract class WindowedRunner<S extends Sender> implements ThreadRunner {
  protected readonly c = new Counters();
  protected readonly senders: S[];
  protected stopping = false;
  private readonly bodies: string[];
  private remaining = 0;
  private pacer: Pacer | undefined;
  private resolveFinished!: () => void;
  readonly finished = new Promise<void>((r) => (this.resolveFinished = r));

  constructor(
    protected readonly cfg: ThreadConfig,
    newSender: (spec: PairSpec) => S,
  ) {
    this.senders = cfg.pairs.map(newSender);
    this.bodies = makeBodyPool(cfg.bodyMin, cfg.bodyMax);
  }

  abstract connect(): Promise<void>;
  abstract close(): Promise<void>;

  /** Put one message on the wire; the loop has already taken budget and counted it as sent. */
  protected abstract send(s: S, seq: number, id: string, body: string): void;

  start(budget: number): void {
    this.remaining = budget;
    if (this.cfg.ratePerSec) {
      let from = 0;
      this.pacer = new Pacer(this.cfg.ratePerSec, () => {
        // The clock is read once per tick: each sendOne takes one of the sends due now.
        from = pumpRoundRobin(this.senders, from, (s) => this.hasRoom(s), (s) => this.sendOne(s), this.pacer!.due());
        this.checkFinished();
      });
      this.pacer.start();
    }
    for (const s of this.senders) this.pump(s);
    this.checkFinished();
  }

  private canSend(s: S): boolean {
    return this.hasRoom(s) && (this.pacer === undefined || this.pacer.due() > 0);
  }

  /** Window room and budget left, whatever the pacer says. */
  private hasRoom(s: S): boolean {
    return s.inflight < this.cfg.window && this.remaining > 0 && !this.stopping;
  }

  private pump(s: S): void {
    while (this.canSend(s)) this.sendOne(s);
  }

  private sendOne(s: S): void {
    this.pacer?.take();
    this.remaining--;
    this.c.sent++;
    const seq = s.nextSeq++;
    this.send(s, seq, encodeMessageId(this.cfg.tag, s.spec.index, seq, s.salt), this.bodies[seq % this.bodies.length]!);
  }

  /**
   * Call after an answer freed one of `s`'s window slots (its inflight already lowered). Paced, only
   * the pacer's tick sends: an ack is no turn, or the senders whose acks come back first would take
   * the credit and send back to back.
   */
  protected refill(s: S): void {
    if (this.pacer === undefined) this.pump(s);
    this.checkFinished();
  }

  private checkFinished(): void {
    if (this.remaining <= 0 && this.idle()) this.resolveFinished();
  }

  protected idle(): boolean {
    return this.senders.every((s) => s.inflight === 0);
  }

  /** What stop() waits for (up to drainMs); chat also waits for deliveries. */
  protected settled(): boolean {
    return this.idle();
  }

  /** After the drain: count what never settled into the counters. */
  protected countUnsettled(): void {
    for (const s of this.senders) this.c.unacked += s.inflight;
  }

  async stop(): Promise<ThreadResult> {
    this.stopping = true;
    this.pacer?.stop();
    this.c.backlogMaxMs = this.pacer?.backlogMaxMs ?? 0;
    await waitUntil(() => this.settled(), this.cfg.drainMs);
    this.countUnsettled();
    return this.c.toResult();
  }
}
