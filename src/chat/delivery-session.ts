// One connection's delivery state, owned here and nowhere else: whether it is replaying (and the live
// messages held back meanwhile), and which messages it was sent and has not confirmed. The router
// delivers live messages through it; the replay runs on it; confirmations from its connection clear it.
//
// Why "sent and not confirmed": a send whose store write was acknowledged just before a replay read it
// settles after the replay sent it, and its live delivery would send it a second time on the same
// connection. The session remembers what it sent (bounded) and never sends a message twice live.
//
// Why "confirmed": a live event can arrive late (a stalled bus delivers what it held back, seconds
// later). What this connection confirmed, by id or by watermark, is never sent to it again, however
// late the event; what another connection of this device confirmed is checked in the store by the
// router (late events only).
import { isDirectConversationId } from '../store/conversation-ids.js';
import { advance, covers, EMPTY_CURSOR } from '../store/cursor.js';
import type { Cursor, StoredMessage } from '../store/store.js';
import type { ChatConnection } from './connection.js';
import type { ServerEvent } from './events.js';

/** Messages remembered as sent-and-unconfirmed per connection; the oldest is forgotten past it. */
export const SENT_IDS_MAX = 4096;
/** Conversations whose confirmations a connection remembers; past it, the one it first confirmed into longest ago is forgotten. */
const CONFIRMED_CONVERSATIONS_MAX = 4096;

export interface ReplayState {
  /** Live messages that arrived during the replay, sent after it in order. */
  readonly buffered: StoredMessage[];
  /** The live buffer hit its bound: what was dropped is in the store, so one more pass picks it up. */
  overflowed: boolean;
  /** A `sync` arrived during this replay: run once more when it ends. */
  again: boolean;
}

/** Where a message sent on this connection sits: what its confirmation records. */
interface SentMessage {
  readonly conversationId: string;
  readonly seq: number;
  /** Its confirmation from this connection is being recorded (the store has not answered yet). */
  confirming: boolean;
}

/**
 * The seqs of one conversation this connection confirmed by id: those above `base` that the cursor
 * (store/cursor.ts: a watermark `upTo` and the runs above it) covers. `base` is one below the first
 * seq confirmed here, so what came before this connection is not taken as confirmed by it. A client
 * confirming as messages come moves only `upTo`, in place: one small object per conversation, where a
 * Set of ids held up to SENT_IDS_MAX strings per busy connection (and a lookup in it per live message).
 * As the store's cursors, past MAX_GAPS gaps the oldest gap counts as confirmed (the
 * store's device cursor closes the same gap, so those messages are not owed to the device anyway).
 */
interface ConfirmedHere extends Cursor {
  base: number;
  upTo: number;
  runs: readonly number[];
}

export class DeliverySession {
  /** Set while a replay runs (ReplayService). */
  replay: ReplayState | undefined;
  // Allocated on first use: an idle connection carries none of them (memory per idle connection).
  /**
   * Ids sent on this connection and not confirmed by it, oldest first, with where each sits: the
   * seq its confirmation records. Not the message itself: a client that never confirms would keep
   * SENT_IDS_MAX bodies alive here (the Mongo store keeps none in memory).
   */
  private sent: Map<string, SentMessage> | undefined;
  /** conversationId → the seqs this connection confirmed by id, oldest conversation first. */
  private confirmedSeqs: Map<string, ConfirmedHere> | undefined;
  /** Ids confirmed here that the seqs above cannot hold (not sent here, or below a conversation's base); bounded like `sent`. */
  private confirmedIds: Set<string> | undefined;
  /** conversationId → the highest seq this connection confirmed everything up to. */
  private confirmedUpTo: Map<string, number> | undefined;
  /** conversationId → the highest seq sent on this connection (a watermark past it is not trusted here). */
  private highestSent: Map<string, number> | undefined;

  constructor(
    readonly connection: ChatConnection,
    /** Most live messages held while replaying (REPLAY_LIVE_BUFFER). */
    private readonly liveBufferMax: number,
    /** What this connection's client cannot show (an edit or delete event, a tombstone for a client without `?events=1`): confirmed for it instead. */
    private readonly withhold?: (session: DeliverySession, message: StoredMessage) => void,
  ) {}

  get userId(): string {
    return this.connection.userId;
  }

  get deviceId(): string {
    return this.connection.deviceId;
  }

  /** The device that sent a message already has it. */
  isOwn(message: StoredMessage): boolean {
    return message.fromDevice === this.connection.deviceId && message.from === this.connection.userId;
  }

  /**
   * A live message for this connection: held while replaying, never sent twice. `event` is the one
   * message event of a fan-out (encoded once for all its recipients).
   */
  deliverLive(message: StoredMessage, event?: ServerEvent): void {
    if (this.isOwn(message) || this.isConfirmed(message) || !this.takes(message)) return;
    const replay = this.replay;
    if (replay) {
      if (replay.buffered.length < this.liveBufferMax) replay.buffered.push(message);
      else replay.overflowed = true;
      return;
    }
    if (this.sent?.has(message.messageId)) return;
    this.sendMessage(message, event);
  }

  /**
   * Sends a message frame and remembers it as sent and not confirmed. False when it was withheld
   * instead (an event or a tombstone for a connection without `events=1`): no frame went out.
   */
  sendMessage(message: StoredMessage, event: ServerEvent = { type: 'message', message }): boolean {
    if (!this.takes(message)) return false;
    if ((message.event !== undefined || message.deleted) && !this.connection.messageEvents && this.withhold) {
      this.withhold(this, message);
      return false;
    }
    this.connection.send(event);
    const highestSent = (this.highestSent ??= new Map<string, number>());
    if (message.seq > (highestSent.get(message.conversationId) ?? 0)) {
      highestSent.set(message.conversationId, message.seq);
      if (highestSent.size > SENT_IDS_MAX) highestSent.delete(highestSent.keys().next().value!);
    }
    const sent = (this.sent ??= new Map<string, SentMessage>());
    sent.delete(message.messageId); // a replay re-sends: move it to the newest end
    sent.set(message.messageId, { conversationId: message.conversationId, seq: message.seq, confirming: false });
    if (sent.size > SENT_IDS_MAX) sent.delete(sent.keys().next().value!);
    return true;
  }

  /** False for a group's message (or event) on a v1 connection (ChatConnection.directOnly): not sent, and not confirmed either. */
  takes(message: Pick<StoredMessage, 'conversationId'>): boolean {
    return !this.connection.directOnly || isDirectConversationId(message.conversationId);
  }

  /** Whether this connection was sent the message and has not confirmed it. */
  wasSent(messageId: string): boolean {
    return this.sent?.has(messageId) ?? false;
  }

  /**
   * This connection's confirmation of these ids (each sent on it) is being recorded (true), or was
   * refused (false). A replay meanwhile (a `sync` right behind the `delivered` frame, a bus fallback's
   * catch-up) reads the store before the confirmation lands: it must not send them again, since the
   * client confirmed them before it asked. Refused, they are owed again, and the client's next `sync`
   * brings them.
   */
  confirming(messageIds: readonly string[], inFlight: boolean): void {
    for (const messageId of messageIds) {
      const message = this.sent?.get(messageId);
      if (message) message.confirming = inFlight;
    }
  }

  /** Whether this connection's confirmation of the message is being recorded. */
  isConfirming(messageId: string): boolean {
    return this.sent?.get(messageId)?.confirming ?? false;
  }

  /** Whether this connection confirmed the message (by id or by watermark). */
  isConfirmed(message: StoredMessage): boolean {
    const { conversationId, seq } = message;
    if (seq <= (this.confirmedUpTo?.get(conversationId) ?? 0)) return true;
    const here = this.confirmedSeqs?.get(conversationId);
    if (here && seq > here.base && covers(here, seq)) return true;
    return this.confirmedIds?.has(message.messageId) ?? false;
  }

  /** This connection confirmed these. */
  confirmed(messageIds: readonly string[]): void {
    for (const messageId of messageIds) {
      const message = this.sent?.get(messageId);
      if (message) {
        this.sent!.delete(messageId);
        if (this.confirmedSeq(message.conversationId, message.seq)) continue;
      }
      const confirmedIds = (this.confirmedIds ??= new Set<string>());
      confirmedIds.add(messageId);
      if (confirmedIds.size > SENT_IDS_MAX) confirmedIds.delete(confirmedIds.values().next().value!);
    }
  }

  /** Records a seq confirmed here; false when it lies below the conversation's base (the caller keeps its id instead). */
  private confirmedSeq(conversationId: string, seq: number): boolean {
    const confirmedSeqs = (this.confirmedSeqs ??= new Map<string, ConfirmedHere>());
    const here = confirmedSeqs.get(conversationId);
    if (!here) {
      confirmedSeqs.set(conversationId, { base: seq - 1, upTo: seq, runs: EMPTY_CURSOR.runs });
      if (confirmedSeqs.size > CONFIRMED_CONVERSATIONS_MAX) confirmedSeqs.delete(confirmedSeqs.keys().next().value!);
      return true;
    }
    if (seq === here.base) {
      here.base--; // the seq just below: the range grows down (a batch confirmed newest first)
      return true;
    }
    if (seq < here.base) return false;
    if (seq === here.upTo + 1 && here.runs.length === 0) here.upTo = seq; // in order: nothing allocated
    else ({ upTo: here.upTo, runs: here.runs } = advance(here, [seq]).cursor);
    return true;
  }

  /**
   * This connection confirmed everything of a conversation up to seq. Remembered only up to what it
   * was sent: a watermark past the conversation's end is clamped by the store, and later messages must
   * still come through.
   */
  confirmedThrough(conversationId: string, claimed: number): void {
    const seq = Math.min(claimed, this.highestSent?.get(conversationId) ?? 0);
    const confirmedUpTo = (this.confirmedUpTo ??= new Map<string, number>());
    if (seq <= (confirmedUpTo.get(conversationId) ?? 0)) return;
    confirmedUpTo.set(conversationId, seq);
    if (confirmedUpTo.size > SENT_IDS_MAX) confirmedUpTo.delete(confirmedUpTo.keys().next().value!);
  }
}
