// Conversations as the chat layer needs them for ephemeral traffic (typing, receipts): who is a
// member and how many. Cached briefly (DIRECTORY_TTL_MS) and dropped on every change this instance
// sees (its own, or another instance's over the bus). Sends, confirmations and reads never trust it:
// the store checks membership on each of them.
import { LRUCache } from 'lru-cache';
import type { Conversation, Store } from '../store/store.js';

const DIRECTORY_TTL_MS = 5000;

export class ConversationDirectory {
  private readonly cache: LRUCache<string, Conversation>;
  /** Reads in flight, shared: a burst of frames naming one uncached conversation reads it once. */
  private readonly reading = new Map<string, Promise<Conversation | undefined>>();

  constructor(
    private readonly store: Store,
    max: number,
  ) {
    this.cache = new LRUCache({ max, ttl: DIRECTORY_TTL_MS });
  }

  /** The cached conversation, if any (no store read: for hot paths that can wait for a miss). */
  cached(conversationId: string): Conversation | undefined {
    return this.cache.get(conversationId);
  }

  get(conversationId: string): Promise<Conversation | undefined> {
    const cached = this.cache.get(conversationId);
    if (cached) return Promise.resolve(cached);
    return this.reading.get(conversationId) ?? this.read(conversationId);
  }

  /** The conversation if `userId` is a member, else undefined (not_found: existence does not leak). */
  async forMember(conversationId: string, userId: string): Promise<Conversation | undefined> {
    const conversation = await this.get(conversationId);
    if (!conversation) return undefined;
    if (conversation.members.includes(userId)) return conversation;
    // Perhaps added a moment ago on another instance: a refusal is checked against the store, by the
    // user's one membership, not by reading every member again (a non-member naming a big group in
    // each frame made each frame a read of its whole member list).
    if (!(await this.store.membership(conversationId, userId))) return undefined;
    this.forget(conversationId);
    const fresh = await this.get(conversationId);
    return fresh?.members.includes(userId) ? fresh : undefined;
  }

  /** A new read, shared until it ends; it fills the cache only if nothing newer came meanwhile. */
  private read(conversationId: string): Promise<Conversation | undefined> {
    const current = () => this.reading.get(conversationId) === reading;
    const reading: Promise<Conversation | undefined> = this.store.getConversation(conversationId).then(
      (conversation) => {
        if (!current()) return conversation;
        this.reading.delete(conversationId);
        if (conversation) this.cache.set(conversationId, conversation);
        return conversation;
      },
      (error: unknown) => {
        if (current()) this.reading.delete(conversationId);
        throw error;
      },
    );
    this.reading.set(conversationId, reading);
    return reading;
  }

  /** Drops what is cached or being read: the next get reads the store anew. */
  private forget(conversationId: string): void {
    this.cache.delete(conversationId);
    this.reading.delete(conversationId);
  }

  changed(conversation: Conversation): void {
    this.reading.delete(conversation.conversationId); // a read begun before the change must not overwrite it
    this.cache.set(conversation.conversationId, conversation);
  }
}
