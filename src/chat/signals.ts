// Receipts and typing: ephemeral, never stored beyond the watermarks they report.
// - Receipts are coalesced: at most one per (conversation, user) per event-loop turn, carrying the
//   newest delivered and read watermarks. Direct conversations and groups up to RECEIPTS_MAX_MEMBERS
//   tell every member's devices; larger groups only the member's own devices (read state is still in
//   the conversation list).
// - In a group, what the other members are told is coalesced further, over RECEIPTS_GROUP_INTERVAL_MS
//   (the member's own devices are told at once). Every member's confirmation of a message is a receipt
//   to every other member: N² frames per message, 9,801 in a group of 100, so one sender at the send
//   limit made the server write ~500,000 frames a second. Over the window each member's receipt
//   carries its newest watermarks, and a burst costs N² frames per window, not per message.
// - Typing is relayed at most once per TYPING_INTERVAL_MS per (user, conversation), to the other
//   members, in direct conversations and groups up to RECEIPTS_MAX_MEMBERS; the rest is dropped.
import { LRUCache } from 'lru-cache';
import type { Conversation } from '../store/store.js';
import { atTurnEnd, TurnStage } from '../turn-end.js';
import type { ChatConnection } from './connection.js';
import type { DeliveryRouter } from './router.js';

interface PendingReceipt {
  readonly conversation: Conversation;
  readonly userId: string;
  /** The connection whose confirmation or read this reports: it knows already (null: several did). */
  source: ChatConnection | null;
  deliveredSeq: number | undefined;
  readSeq: number | undefined;
}

export class Signals {
  /**
   * This turn's first receipt, outside any map: a paced turn holds one, and then no key is built or
   * hashed and no map is made (bench/RESULTS.md, "One frame, no cork").
   */
  private first: PendingReceipt | undefined;
  /** The turn's receipts for other (conversation, user) pairs, made when the second pair comes. */
  private others: Map<string, PendingReceipt> | undefined;
  private readonly lastTyping: LRUCache<string, number>;
  /** Group receipts waiting for the window's end, by (conversation, user): the other members' share. */
  private windowed: Map<string, PendingReceipt> | undefined;

  constructor(
    private readonly router: DeliveryRouter,
    private readonly receiptsMaxMembers: number,
    private readonly typingIntervalMs: number,
    maxKeys: number,
    /** RECEIPTS_GROUP_INTERVAL_MS; 0: groups are told every turn, as direct conversations are. */
    private readonly groupIntervalMs = 0,
  ) {
    this.lastTyping = new LRUCache({ max: maxKeys, ttl: Math.max(1, typingIntervalMs) });
  }

  /** Queues a receipt for this turn's end; an absent watermark is undefined (no object per call). */
  receipt(conversation: Conversation, userId: string, deliveredSeq: number | undefined, readSeq: number | undefined, source?: ChatConnection): void {
    raise(this.pendingFor(conversation, userId, source), deliveredSeq, readSeq);
  }

  private pendingFor(conversation: Conversation, userId: string, source: ChatConnection | undefined): PendingReceipt {
    const first = this.first;
    if (first === undefined) {
      atTurnEnd(TurnStage.Signals, this.flush);
      return (this.first = newPending(conversation, userId, source));
    }
    let entry: PendingReceipt | undefined;
    if (first.userId === userId && first.conversation.conversationId === conversation.conversationId) entry = first;
    else {
      const key = `${conversation.conversationId}\n${userId}`;
      this.others ??= new Map();
      entry = this.others.get(key);
      if (entry === undefined) {
        this.others.set(key, (entry = newPending(conversation, userId, source)));
        return entry;
      }
    }
    if (entry.source !== source) entry.source = null;
    return entry;
  }

  /** Returns false when the event was dropped (too soon after the last, or too large a group). */
  typing(conversation: Conversation, userId: string, now = Date.now()): boolean {
    if (this.large(conversation)) return false;
    const key = `${conversation.conversationId}\n${userId}`;
    const last = this.lastTyping.get(key);
    if (last !== undefined && now - last < this.typingIntervalMs) return false;
    this.lastTyping.set(key, now);
    const event = { kind: 'typing', conversationId: conversation.conversationId, userId } as const;
    this.router.toMembers(conversation.conversationId, conversation.kind === 'direct' ? conversation.members : undefined, event, userId);
    return true;
  }

  private readonly flush = (): void => {
    const { first, others } = this;
    // The map is made anew each turn it is needed, not emptied: the emptied table of a long-lived map
    // is old-generation garbage that scavenges read as live until the next full GC, and every key and
    // entry it held was copied and promoted (bench/RESULTS.md, "Collections emptied every turn").
    this.first = undefined;
    this.others = undefined;
    if (first !== undefined) this.send(first);
    if (others !== undefined) for (const entry of others.values()) this.send(entry);
  };

  private send(entry: PendingReceipt): void {
    const { conversation, userId, source } = entry;
    const event = receiptEvent(entry);
    const quiet = source ?? undefined;
    if (this.large(conversation)) this.router.toUser(userId, event, quiet);
    else if (conversation.kind === 'group' && this.groupIntervalMs > 0) {
      this.router.toUser(userId, event, quiet); // its own devices at once: a read clears their counters
      this.holdForGroup(entry);
    } else this.router.toMembers(conversation.conversationId, conversation.kind === 'direct' ? conversation.members : undefined, event, undefined, quiet);
  }

  /** The other members' share of a group receipt: merged with the window's, sent at its end. */
  private holdForGroup(entry: PendingReceipt): void {
    const key = `${entry.conversation.conversationId}\n${entry.userId}`;
    if (this.windowed === undefined) {
      this.windowed = new Map();
      setTimeout(this.flushGroups, this.groupIntervalMs).unref();
    }
    const held = this.windowed.get(key);
    if (held === undefined) return void this.windowed.set(key, { ...entry, source: null });
    raise(held, entry.deliveredSeq, entry.readSeq);
  }

  private readonly flushGroups = (): void => {
    const windowed = this.windowed;
    this.windowed = undefined;
    if (windowed === undefined) return;
    for (const entry of windowed.values()) this.router.toMembers(entry.conversation.conversationId, undefined, receiptEvent(entry), entry.userId);
  };

  private large(conversation: Conversation): boolean {
    return conversation.kind === 'group' && conversation.members.length > this.receiptsMaxMembers;
  }
}

/** Moves a pending receipt's watermarks up to these (never down; an absent one leaves its own). */
function raise(entry: PendingReceipt, deliveredSeq: number | undefined, readSeq: number | undefined): void {
  if (deliveredSeq !== undefined) entry.deliveredSeq = Math.max(entry.deliveredSeq ?? 0, deliveredSeq);
  if (readSeq !== undefined) entry.readSeq = Math.max(entry.readSeq ?? 0, readSeq);
}

/**
 * The bus event of a pending receipt. An absent watermark is undefined here, not left out (no spread
 * per field): the frame and bus encoders both leave undefined fields out.
 */
function receiptEvent({ conversation, userId, deliveredSeq, readSeq }: PendingReceipt) {
  return { kind: 'receipt', conversationId: conversation.conversationId, userId, deliveredSeq, readSeq } as const;
}

function newPending(conversation: Conversation, userId: string, source: ChatConnection | undefined): PendingReceipt {
  return { conversation, userId, source: source ?? null, deliveredSeq: undefined, readSeq: undefined };
}
