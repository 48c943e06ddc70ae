// Conversations as the chat layer needs them for ephemeral traffic (typing, receipts): who is a
// member and how many. Cached briefly (DIRECTORY_TTL_MS) and dropped on every change this instance
// sees (its own, or another instance's over the bus). Sends, confirmations and reads never trust it:
// the store checks membership on each of them.
import { LRUCache } from 'lru-cache';
import type { Conversation, Store } from '../store/store.js';

const DIRECTORY_TTL_MS = 5000;

export class ConversationDirectory {
  private readonly cache: LRUCache<string, Conversation>;

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

  async get(conversationId: string): Promise<Conversation | undefined> {
    const cached = this.cache.get(conversationId);
    if (cached) return cached;
    const conversation = await this.store.getConversation(conversationId);
    if (conversation) this.cache.set(conversationId, conversation);
    return conversation;
  }

  /** The conversation if `userId` is a member, else undefined (not_found: existence does not leak). */
  async forMember(conversationId: string, userId: string): Promise<Conversation | undefined> {
    let conversation = await this.get(conversationId);
    if (conversation && !conversation.members.includes(userId)) {
      // Perhaps added a moment ago on another instance: a refusal is checked against the store.
      this.cache.delete(conversationId);
      conversation = await this.get(conversationId);
    }
    return conversation?.members.includes(userId) ? conversation : undefined;
  }

  changed(conversation: Conversation): void {
    this.cache.set(conversation.conversationId, conversation);
  }
}
