// Receipts and typing: ephemeral, never stored beyond the watermarks they report.
// - Receipts are coalesced: at most one per (conversation, user) per event-loop turn, carrying the
//   newest delivered and read watermarks. Direct conversations and groups up to RECEIPTS_MAX_MEMBERS
//   tell every member's devices; larger groups only the member's own devices (read state is still in
//   the conversation list).
// - Typing is relayed at most once per TYPING_INTERVAL_MS per (user, conversation), to the other
//   members, in direct conversations and groups up to RECEIPTS_MAX_MEMBERS; the rest is dropped.
import { LRUCache } from 'lru-cache';
import type { Conversation } from '../store/store.js';
import { atTurnEnd, TurnStage } from '../turn-end.js';
import type { ChatConnection } from './connection.js';
import type { DeliveryRouter } from './router.js';

interface PendingReceipt {
  conversation: Conversation;
  userId: string;
  /** The connection whose confirmation or read this reports: it knows already (null: several did). */
  source: ChatConnection | null;
  deliveredSeq?: number;
  readSeq?: number;
}

export class Signals {
  private pending = new Map<string, PendingReceipt>();
  private scheduled = false;
  private readonly lastTyping: LRUCache<string, number>;

  constructor(
    private readonly router: DeliveryRouter,
    private readonly receiptsMaxMembers: number,
    private readonly typingIntervalMs: number,
    maxKeys: number,
  ) {
    this.lastTyping = new LRUCache({ max: maxKeys, ttl: Math.max(1, typingIntervalMs) });
  }

  receipt(conversation: Conversation, userId: string, change: { deliveredSeq?: number; readSeq?: number }, source?: ChatConnection): void {
    const key = `${conversation.conversationId}\n${userId}`;
    let entry = this.pending.get(key);
    if (!entry) this.pending.set(key, (entry = { conversation, userId, source: source ?? null }));
    else if (entry.source !== source) entry.source = null;
    if (change.deliveredSeq !== undefined) entry.deliveredSeq = Math.max(entry.deliveredSeq ?? 0, change.deliveredSeq);
    if (change.readSeq !== undefined) entry.readSeq = Math.max(entry.readSeq ?? 0, change.readSeq);
    if (!this.scheduled) {
      this.scheduled = true;
      atTurnEnd(TurnStage.Signals, this.flush);
    }
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
    this.scheduled = false;
    const entries = this.pending;
    // A new map each turn, not one emptied each turn: the emptied table of a long-lived map is
    // old-generation garbage that scavenges read as live until the next full GC, and every key and
    // entry it held was copied and promoted (bench/RESULTS.md, "Collections emptied every turn").
    this.pending = new Map();
    for (const { conversation, userId, deliveredSeq, readSeq, source } of entries.values()) {
      // An absent watermark is undefined here, not left out (no spread per field): the frame and bus
      // encoders both leave undefined fields out.
      const event = { kind: 'receipt', conversationId: conversation.conversationId, userId, deliveredSeq, readSeq } as const;
      const quiet = source ?? undefined;
      if (this.large(conversation)) this.router.toUser(userId, event, quiet);
      else this.router.toMembers(conversation.conversationId, conversation.kind === 'direct' ? conversation.members : undefined, event, undefined, quiet);
    }
  };

  private large(conversation: Conversation): boolean {
    return conversation.kind === 'group' && conversation.members.length > this.receiptsMaxMembers;
  }
}
