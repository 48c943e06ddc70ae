// Groups and the conversation list: create, members, title, list, one item, history. Membership rules
// (docs/protocol.md): a non-member is told not_found (existence does not leak); only the owner adds
// members or renames; anyone may remove themselves (leave); the owner removes anyone; direct
// conversations have exactly their two members, forever.
import type { ConversationEventKind } from './events.js';
import { ChatError } from '../errors.js';
import { KeyedLock } from '../lock.js';
import { isReservedUserId, SYSTEM_USER_ID } from '../protocol/ids.js';
import { groupConversationId, groupRequestDigest, isDirectConversationId } from '../store/conversation-ids.js';
import type { Conversation, ConversationListItem, ConversationPage, HistoryPage, MemberState, Store } from '../store/store.js';
import type { NewGroupInput } from './commands.js';
import { notFound } from './confirm.js';
import type { ConversationDirectory } from './directory.js';
import type { RateLimiter } from './rate-limit.js';
import type { DeliveryRouter } from './router.js';

export interface ConversationLimits {
  readonly maxGroupMembers: number;
  readonly maxMembersPerAdd: number;
  /** Groups one user may be a member of (MAX_GROUPS_PER_USER). */
  readonly maxGroupsPerUser: number;
  readonly historyPageMax: number;
  readonly conversationsPageMax: number;
  /** Members' positions come with one conversation only up to this size (as receipts do). */
  readonly receiptsMaxMembers: number;
}

export class ConversationService {
  /** One member addition per group at a time on this instance: its size check and its write are one step. */
  private readonly additions = new KeyedLock();
  /** One group joining per user at a time on this instance: its MAX_GROUPS_PER_USER check and its write are one step. */
  private readonly userGroupTurns = new KeyedLock();

  constructor(
    private readonly store: Store,
    private readonly router: DeliveryRouter,
    private readonly directory: ConversationDirectory,
    /** Creations, member changes and renames per user (per minute, burst the same). */
    private readonly changeLimiter: RateLimiter,
    private readonly limits: ConversationLimits,
    /** Told every membership change made here (the store's late refusals: late-refusals.ts). */
    private readonly onChanged: (event: ConversationEventKind, conversationId: string, users: readonly string[]) => void = () => {},
  ) {}

  /** `byServer`: the server API's call, which may make `@system` a member (to post into the group). */
  async create(ownerId: string, input: NewGroupInput, idempotencyKey?: string, byServer = false): Promise<{ conversation: Conversation; created: boolean }> {
    const members = [...new Set(input.members)].filter((member) => member !== ownerId);
    if (!byServer) refuseReserved(members);
    if (input.members.length > this.limits.maxMembersPerAdd) throw new ChatError('too_large', `At most ${this.limits.maxMembersPerAdd} members per call`);
    if (members.length + 1 > this.limits.maxGroupMembers) throw this.groupFull();
    this.takeChange(ownerId);
    const conversationId = groupConversationId(ownerId, idempotencyKey);
    const requestDigest = idempotencyKey === undefined ? undefined : groupRequestDigest(input.title, members);
    // The store says which of concurrent creations (on any instance) made the group: only that one
    // answers 201 and announces `created`; the others answer 200 with the same group.
    const { conversation, created, requestDigest: storedDigest } = await this.joiningGroups([ownerId, ...members], async (full) => {
      // A retry of a creation that went through counts its own group: it is let through to the store,
      // which answers with the group as it is.
      if (full.length > 0 && (idempotencyKey === undefined || !(await this.store.getConversation(conversationId)))) throw this.userGroupsFull(full);
      return this.store.createGroup({ conversationId, title: input.title, ownerId, members, createdAt: Date.now(), requestDigest });
    });
    if (conversation.ownerId !== ownerId && !conversation.members.includes(ownerId)) throw notFound();
    // A key used again for another title or other members is not a retry. Groups created before
    // digests were kept have none: those keys still answer with the group, as they did.
    if (!created && storedDigest !== undefined && storedDigest !== requestDigest) {
      throw new ChatError('conflict', 'Idempotency-Key already used for a group with another title or other members; use a new key for a new group');
    }
    if (created) this.changed('created', conversation, conversation.members, conversation.members);
    return { conversation, created };
  }

  list(userId: string, limit: number, cursor: string | undefined): Promise<ConversationPage> {
    return this.store.listConversations(userId, Math.min(limit, this.limits.conversationsPageMax), cursor);
  }

  /**
   * One conversation; with every member's delivered and read positions where receipts would be sent
   * to everyone (so a client that was not listening rebuilds its ticks).
   */
  async item(userId: string, conversationId: string): Promise<{ item: ConversationListItem; members?: MemberState[] }> {
    // A direct conversation's two member states are read beside the item (its round trips, not after
    // them; a non-member's are dropped unseen); a group's only once its size says they are sent.
    const direct = isDirectConversationId(conversationId);
    const [item, directMembers] = await Promise.all([this.store.conversationItem(conversationId, userId), direct ? this.store.memberStates(conversationId) : undefined]);
    if (!item) throw notFound();
    if (direct) return { item, members: directMembers! };
    if (item.conversation.members.length > this.limits.receiptsMaxMembers) return { item };
    return { item, members: await this.store.memberStates(conversationId) };
  }

  /** The newest page before `before`, or with `after` the oldest page after it (paging forward). */
  async history(userId: string, conversationId: string, before: number | undefined, limit: number, after?: number): Promise<HistoryPage> {
    // Both at once, a round trip fewer over a network; a non-member's page is read and dropped unseen.
    const [member, page] = await Promise.all([this.store.membership(conversationId, userId), this.store.history(conversationId, before, Math.min(limit, this.limits.historyPageMax), after)]);
    if (!member) throw notFound();
    return page;
  }

  addMembers(userId: string, conversationId: string, userIds: readonly string[], byServer = false): Promise<Conversation> {
    if (userIds.length > this.limits.maxMembersPerAdd) throw new ChatError('too_large', `At most ${this.limits.maxMembersPerAdd} members per call`);
    if (!byServer) refuseReserved(userIds);
    // Concurrent additions to one group each passed the size check before any wrote: 10 adds of 100 at
    // once took a group of 801 to 1,801 members on MongoDB. Here they queue. Two instances adding to one
    // group at the same moment can still pass it by one addition each (at most MAX_MEMBERS_PER_ADD per
    // other instance): taking members back after the write was tried, and told a concurrent addition
    // "200, a member" of a user it then removed.
    return this.additions.run(conversationId, async () => {
      const conversation = await this.group(userId, conversationId);
      if (conversation.ownerId !== userId) throw new ChatError('forbidden', 'Only the owner adds members');
      const fresh = [...new Set(userIds)].filter((member) => !conversation.members.includes(member));
      if (conversation.members.length + fresh.length > this.limits.maxGroupMembers) throw this.groupFull();
      this.takeChange(userId);
      const change = await this.joiningGroups(fresh, (full) => {
        if (full.length > 0) throw this.userGroupsFull(full);
        return this.store.addMembers(conversationId, fresh, Date.now());
      });
      if (!change) throw notFound();
      if (change.users.length > 0) this.changed('joined', change.conversation, change.users, change.conversation.members);
      return change.conversation;
    });
  }

  async removeMember(userId: string, conversationId: string, target: string): Promise<void> {
    const conversation = await this.group(userId, conversationId);
    if (target !== userId && conversation.ownerId !== userId) throw new ChatError('forbidden', 'Only the owner removes other members');
    if (!conversation.members.includes(target)) throw new ChatError('not_found', 'Not a member of this conversation');
    // Leaving is free: anyone can add a user to groups, K accounts at K × CONVERSATION_CHANGES_PER_MIN,
    // and the user could leave only at its own one (attacker probe). Each leave undoes someone's add.
    if (target !== userId) this.takeChange(userId);
    const change = await this.store.removeMember(conversationId, target);
    if (!change) throw notFound();
    if (change.users.length > 0) this.changed(target === userId ? 'left' : 'removed', change.conversation, change.users, [...change.conversation.members, ...change.users]);
  }

  async setTitle(userId: string, conversationId: string, title: string): Promise<Conversation> {
    const conversation = await this.group(userId, conversationId);
    if (conversation.ownerId !== userId) throw new ChatError('forbidden', 'Only the owner renames the group');
    this.takeChange(userId);
    const updated = await this.store.setTitle(conversationId, title);
    if (!updated) throw notFound();
    this.changed('updated', updated, [], updated.members);
    return updated;
  }

  /** A group the caller is a member of (fresh from the store: membership decisions never use a cache). */
  private async group(userId: string, conversationId: string): Promise<Conversation> {
    const conversation = await this.store.getConversation(conversationId);
    if (!conversation || !conversation.members.includes(userId)) throw notFound();
    if (conversation.kind !== 'group') throw new ChatError('forbidden', 'A direct conversation has no title and no member changes: only a group has');
    return conversation;
  }

  private changed(event: ConversationEventKind, conversation: Conversation, users: readonly string[], recipients: readonly string[]): void {
    this.directory.changed(conversation);
    this.onChanged(event, conversation.conversationId, users);
    this.router.conversationChanged(event, conversation, users, recipients);
  }

  private groupFull(): ChatError {
    return new ChatError('too_large', `A group holds at most ${this.limits.maxGroupMembers} members`);
  }

  /**
   * `join` with the users (but the server's `@system`) already in MAX_GROUPS_PER_USER groups, holding
   * each user's turn: the count and the write are one step per user on this instance (20 concurrent
   * creations naming one user all passed a cap of 3 on MongoDB, where the reads interleave). Through
   * several instances at once a user can still pass it by one group per other instance.
   */
  private joiningGroups<T>(userIds: readonly string[], join: (full: string[]) => Promise<T>): Promise<T> {
    const users = [...new Set(userIds)].filter((userId) => userId !== SYSTEM_USER_ID);
    return this.userGroupTurns.runAll(users, async () => {
      const cap = this.limits.maxGroupsPerUser;
      const counts = await this.store.groupCounts(users, cap);
      return join(users.filter((_, i) => counts[i]! >= cap));
    });
  }

  private userGroupsFull(users: readonly string[]): ChatError {
    const shown = users.slice(0, 5).map((user) => `"${user}"`).join(', ') + (users.length > 5 ? ` and ${users.length - 5} more` : '');
    return new ChatError('too_large', `${shown} ${users.length === 1 ? 'is' : 'are'} in ${this.limits.maxGroupsPerUser} groups already, the most a user may be in; nothing was changed`, { users });
  }

  private takeChange(userId: string): void {
    const wait = this.changeLimiter.take(userId);
    if (wait > 0) throw new ChatError('rate_limited', 'Too many conversation changes; retry after retryAfter', { retryAfterSec: wait });
  }
}

/**
 * Ids starting with `@` are the server's: `@system` never connects, so a group a user made it a member
 * of would owe it every message for ever. Only the server API adds it, to post into the group.
 */
function refuseReserved(userIds: readonly string[]): void {
  const reserved = userIds.find(isReservedUserId);
  if (reserved !== undefined) throw new ChatError('bad_request', `"${reserved}" is reserved for the server and cannot be a member`);
}
