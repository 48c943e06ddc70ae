// A ChatConnection over a uWS WebSocket. Outgoing frames are queued and written once per event-loop
// turn in one write (one syscall for an ack, a message and a DELIVERED ack together: several frames
// inside one cork, a lone frame corked by uWS itself; with `?batch=1`, v1.4, the frames joined into
// one text frame); a connection whose send buffer passes the backpressure limit is closed with 1013
// instead of buffering without bound.
import type { WebSocket } from 'uWebSockets.js';
import type { Principal } from '../auth/jwt.js';
import type { ChatConnection } from '../chat/connection.js';
import type { DeliverySession } from '../chat/delivery-session.js';
import type { Bucket } from '../chat/rate-limit.js';
import type { ServerEvent, ServerEventType } from '../chat/events.js';
import type { ChatError } from '../errors.js';
import { encodeServerEvent } from '../protocol/server-frames.js';
import { atTurnEnd, TurnStage } from '../turn-end.js';
import type { RefusalWindow } from './flood-guard.js';

export interface SocketData {
  readonly principal: Principal;
  readonly ip: string;
  /** `?device=` of the upgrade URL (v1.1), `default` without one. */
  readonly deviceId: string;
  /** `?events=1` (v1.2): this client takes message_event frames. */
  readonly messageEvents: boolean;
  /** None of `device`, `events`, `ackDelayMs`, `batch` named: a v1 client (ChatConnection.directOnly). */
  readonly directOnly: boolean;
  /** `?ackDelayMs=` (v1.3): how long DELIVERED acks and receipts may wait for another frame; 0: not at all. */
  readonly ackDelayMs: number;
  /** `?batch=1` (v1.4): frames written together go as one text frame, newline-separated. */
  readonly batch: boolean;
  /** The user's budget of useless frame work, shared by its connections (src/transport/frame-budget.ts). */
  readonly frameBudget: Bucket;
  connection?: SocketConnection;
  /** The chat domain's handle for this connection (opaque to the transport). */
  session?: DeliverySession;
}

export const CLOSE_SLOW_CONSUMER = 1013;
/** `WebSocket.send`'s answer when the frame was written (0: some of it is buffered, 2: dropped). */
const SEND_SUCCESS = 1;
/** The token expired, or was revoked (server API, log out everywhere). */
export const CLOSE_TOKEN_EXPIRED = 4001;
/** The user was banned (server API). */
export const CLOSE_BANNED = 4003;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_MESSAGE_TOO_BIG = 1009;
/** Kept sending past its rate limits (see flood-guard.ts). */
export const CLOSE_POLICY_VIOLATION = 1008;

/**
 * uWS's own backpressure limit for a socket whose limit (ours) is `maxBackpressureBytes`: room for
 * one more largest frame past ours plus the close frame. At uWS's limit a send is dropped, and so is
 * the close frame of `end()`: the client would then see 1006 instead of 1013.
 */
export function uwsBackpressureLimit(maxBackpressureBytes: number, maxFrameBytes: number): number {
  return maxBackpressureBytes + maxFrameBytes + 1024;
}

/**
 * This turn's connections with frames to write (each once: `queued`). A new array each turn, not a
 * Set cleared each turn: a long-lived collection's cleared table is old-generation garbage that
 * scavenges still read as live until the next full GC, so everything the table held was copied and
 * promoted (bench/RESULTS.md, "Collections emptied every turn").
 */
let pendingFlush: SocketConnection[] = [];
let flushScheduled = false;

// Flushed once per event-loop turn (at its end, after the chat layer's coalesced signals: turn-end.ts),
// not per microtask: measured with the 4x4 chat load, a microtask flush cost ~77 us of server CPU per
// message against ~56 us (more, smaller writes).
function flushAll(): void {
  flushScheduled = false;
  // By index: a connection queued by another's flush (a close, say) is written in this one too.
  for (let i = 0; i < pendingFlush.length; i++) {
    const connection = pendingFlush[i]!;
    connection.queued = false;
    connection.flushAtTurnEnd();
  }
  pendingFlush = [];
}

/**
 * v1.3 held acks: connections whose outbox holds only DELIVERED acks and receipts (`?ackDelayMs=`).
 * Any other frame to the connection takes them along in its write; the sweep writes those that waited
 * their delay out. One interval for all of them, and only while any holds: no timer per frame.
 */
const holding = new Set<SocketConnection>();
/** How often held frames are looked at: a held frame goes out at most this much after its delay. */
const HOLD_SWEEP_MS = 10;
let sweeper: NodeJS.Timeout | undefined;

function sweepHeld(): void {
  const now = performance.now();
  for (const connection of holding) connection.flushIfHeldSince(now);
  if (holding.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** Frames that may wait (v1.3): the ticks of messages already acknowledged as SENT. */
function mayWait(type: ServerEventType): boolean {
  return type === 'ack_delivered' || type === 'receipt';
}

export interface ConnectionHooks {
  readonly maxBackpressureBytes: number;
  /** The most UTF-16 units one joined frame (v1.4 batch) holds: its UTF-8 stays within the largest single frame. */
  readonly maxBatchChars: number;
  onSlowConsumer(connection: SocketConnection): void;
  onFrameOut(type: ServerEventType): void;
  /** An error answer was queued (the flood guard watches for rate_limited ones). */
  onError(connection: SocketConnection, error: ChatError): void;
}

let nextId = 1;

export class SocketConnection implements ChatConnection {
  readonly id = nextId++;
  readonly userId: string;
  readonly deviceId: string;
  readonly messageEvents: boolean;
  readonly directOnly: boolean;
  /** `?ackDelayMs=` (v1.3); 0: every frame goes out at the end of its turn. */
  readonly ackDelayMs: number;
  /** `?batch=1` (v1.4). */
  private readonly batch: boolean;
  /** When the outbox started holding frames that may wait (performance.now()), else 0. */
  private heldSince = 0;
  /** The token's principal (its iat decides whether a revocation closes this connection). */
  readonly principal: Principal;
  open = true;
  /** In this turn's flush list. */
  queued = false;
  /**
   * Encoded frames waiting for this turn's flush, and their types: parallel arrays (no object per
   * frame), the first `outboxCount` entries, kept between flushes (no new arrays each turn).
   */
  private readonly outbox: (string | undefined)[] = [];
  private readonly outboxTypes: (ServerEventType | undefined)[] = [];
  private outboxCount = 0;
  private outboxBytes = 0;
  /** The frames the running flush writes (set just before its cork). */
  private writing = 0;
  /** Set when the running flush stopped at our backpressure limit. */
  private overLimit = false;
  /**
   * False while uWS is known to buffer nothing for this socket: our last write was a lone send outside
   * any cork that uWS reported as fully written (SUCCESS). Then the backpressure checks around the next
   * write need not ask uWS (a native call each).
   */
  private mayBuffer = true;
  /** The running write is inside a cork (ours): a send's SUCCESS then says nothing about the buffer. */
  private corked = false;
  /** Allocated on first use: an idle connection carries none. */
  private drainWaiters: ((ok: boolean) => void)[] | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  /** rate_limited answers in the current window (flood-guard.ts). */
  readonly refusals: RefusalWindow = { count: 0, since: 0 };
  /** The user's budget of useless frame work (frame-budget.ts): refusals of what it may not see are charged to it. */
  readonly frameBudget: Bucket;

  constructor(
    private readonly ws: WebSocket<SocketData>,
    private readonly hooks: ConnectionHooks,
  ) {
    const data = ws.getUserData();
    this.principal = data.principal;
    this.userId = data.principal.userId;
    this.deviceId = data.deviceId;
    this.messageEvents = data.messageEvents;
    this.directOnly = data.directOnly;
    this.ackDelayMs = data.ackDelayMs;
    this.batch = data.batch;
    this.frameBudget = data.frameBudget;
  }

  send(event: ServerEvent): void {
    if (!this.open) return;
    const frame = encodeServerEvent(event);
    this.outbox[this.outboxCount] = frame;
    this.outboxTypes[this.outboxCount] = event.type;
    this.outboxCount++;
    this.outboxBytes += frame.length;
    if (this.ackDelayMs > 0 && mayWait(event.type) && !this.queued) {
      // Held: the next frame to this connection, or the sweep once the delay is out, writes it.
      if (this.heldSince === 0) {
        this.heldSince = performance.now();
        holding.add(this);
        sweeper ??= setInterval(sweepHeld, HOLD_SWEEP_MS).unref();
      }
      return;
    }
    if (!this.queued) {
      this.queued = true;
      pendingFlush.push(this);
    }
    if (!flushScheduled) {
      flushScheduled = true;
      atTurnEnd(TurnStage.Flush, flushAll);
    }
    if (event.type === 'error') this.hooks.onError(this, event.error);
  }

  /** Writes the outbox now, corked. */
  flush(): void {
    this.write(false);
  }

  /**
   * `flush` from the turn's end (setImmediate), outside uWS's callbacks, where no socket is corked: a
   * lone frame goes without our cork. uWS corks a lone send itself (the same single write), and `cork`
   * calls back into JavaScript from C++, which costs more than the send (bench/RESULTS.md, "One frame,
   * no cork"). Inside a uWS callback the socket may be corked by uWS, and a send's SUCCESS would then
   * not mean that nothing is buffered.
   */
  flushAtTurnEnd(): void {
    this.write(true);
  }

  private write(uncorked: boolean): void {
    if (!this.open || this.outboxCount === 0) return;
    this.writing = this.outboxCount;
    this.overLimit = false;
    // One send: a lone frame, or (batch) frames that fit in one joined frame.
    if (uncorked && (this.writing === 1 || (this.batch && this.outboxBytes + this.writing <= this.hooks.maxBatchChars))) {
      this.corked = false;
      this.writeOutbox();
    } else {
      this.corked = this.mayBuffer = true;
      this.ws.cork(this.writeOutbox);
    }
    // Emptied after the writes: nothing in them sends (a slow consumer is closed only below).
    if (this.outboxTypes[this.writing - 1] === 'ready') {
      // A replay ends with `ready`, and most connections are idle after it: their arrays' backing
      // stores go back (heap per idle connection, bench/connections.ts); an active one grows them again once.
      this.outbox.length = 0;
      this.outboxTypes.length = 0;
    } else {
      // A loop, not Array.prototype.fill: fill is C++ behind a runtime call, ~600 instructions a call
      // under callgrind for the frame or two a paced write holds.
      for (let i = 0; i < this.writing; i++) this.outbox[i] = this.outboxTypes[i] = undefined;
    }
    this.outboxCount = 0;
    this.outboxBytes = 0;
    this.unhold();
    if (this.overLimit || (this.mayBuffer && this.ws.getBufferedAmount() > this.hooks.maxBackpressureBytes)) this.hooks.onSlowConsumer(this);
  }

  /** The sweep: writes held frames whose delay is out. */
  flushIfHeldSince(now: number): void {
    if (now - this.heldSince >= this.ackDelayMs) this.flush();
  }

  private unhold(): void {
    if (this.heldSince === 0) return;
    this.heldSince = 0;
    holding.delete(this);
  }

  /**
   * The running write's frames, in order: `flush`'s cork callback (made once per connection rather than
   * once per flush), or called directly at the turn's end for a lone frame (or, batched, frames that
   * fit one text frame). A connection with `?batch=1` (v1.4) sends consecutive frames joined.
   */
  private readonly writeOutbox = (): void => {
    for (let i = 0; i < this.writing; ) {
      // Our limit is checked before each write, and uWS's own limit sits higher (uwsBackpressureLimit):
      // uWS never drops a frame, so the 1013 close frame always fits behind the buffered data and
      // reaches the client once it reads again. What is not written is pending in the store.
      if (this.mayBuffer && this.ws.getBufferedAmount() > this.hooks.maxBackpressureBytes) {
        this.overLimit = true;
        return;
      }
      let frame = this.outbox[i]!;
      let end = i + 1;
      if (this.batch) {
        // v1.4: the frames that fit go as one, newline-separated (JSON escapes a newline inside a string).
        while (end < this.writing && frame.length + 1 + this.outbox[end]!.length <= this.hooks.maxBatchChars) frame = frame + '\n' + this.outbox[end++]!;
      }
      const status = this.ws.send(frame, false, false);
      // Uncorked, uWS's SUCCESS means nothing of the frame waits in a buffer.
      this.mayBuffer = this.corked || status !== SEND_SUCCESS;
      for (; i < end; i++) this.hooks.onFrameOut(this.outboxTypes[i]!);
    }
  };

  pressure(): number {
    return this.open ? this.outboxBytes + this.ws.getBufferedAmount() : 0;
  }

  writable(): Promise<boolean> {
    if (!this.open) return Promise.resolve(false);
    this.flush();
    if (!this.open) return Promise.resolve(false);
    if (this.ws.getBufferedAmount() <= this.hooks.maxBackpressureBytes / 4) return Promise.resolve(true);
    return new Promise((resolve) => (this.drainWaiters ??= []).push(resolve));
  }

  /** uWS `drain`: the kernel took some of the buffer. */
  drained(): void {
    if (!this.drainWaiters?.length || this.ws.getBufferedAmount() > this.hooks.maxBackpressureBytes / 4) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve(true);
  }

  /** Closes with a code; safe to call more than once. */
  end(code: number, reason: string): void {
    if (!this.open) return;
    if (code !== CLOSE_SLOW_CONSUMER) this.flush(); // acks already queued still go out before the close
    if (!this.open) return;
    this.markClosed();
    this.ws.end(code, reason);
  }

  /** Called from uWS `close` (the socket is gone: it must not be touched again). */
  markClosed(): void {
    if (!this.open) return;
    this.open = false;
    this.outbox.length = 0;
    this.outboxTypes.length = 0;
    this.outboxCount = 0;
    this.outboxBytes = 0;
    this.unhold();
    clearTimeout(this.expiryTimer);
    for (const resolve of this.drainWaiters?.splice(0) ?? []) resolve(false);
  }
}
