// Who is online here, and who hears what. userId → the delivery sessions of their open connections;
// for groups, conversationId → the online users here who are members (loaded when a user's first
// connection opens, kept current by conversation events). Live delivery goes to every session of every
// member (each holds it back while replaying, skips its own device's messages, and never sends twice).
//
// Across instances (bus): a direct message or a user's own events go to that user's subject; group
// traffic goes once to every instance, which delivers it to the members it holds. So a group message
// costs one bus message per instance, not one per member.
import { NoBus, type BusEvent, type LiveBus } from '../bus/live-bus.js';
import { isDirectConversationId } from '../store/conversation-ids.js';
import type { Conversation, StoredMessage } from '../store/store.js';
import type { ChatConnection } from './connection.js';
import { DeliverySession } from './delivery-session.js';
import type { ConversationEventKind, ServerEvent } from './events.js';

/** The groups a user is a member of (router's index). */
export type GroupLoader = (userId: string) => Promise<string[]>;

/**
 * Bus events older than `afterMs` (a stalled bus delivers late, it does not only drop) are checked
 * against the store before a device gets them: a message its device confirmed meanwhile, on any
 * connection, is never sent again.
 */
export interface LateEventCheck {
  readonly afterMs: number;
  confirmed(session: DeliverySession, message: StoredMessage): Promise<boolean>;
}

export class DeliveryRouter {
  private readonly byUser = new Map<string, Set<DeliverySession>>();
  /** Groups of the users online here: userId → conversationIds. */
  private readonly groupsOf = new Map<string, Set<string>>();
  /** conversationId → users online here who are members. */
  private readonly hearers = new Map<string, Set<string>>();
  /** Index loads in flight, per user: their sessions' replays wait for them. */
  private readonly loading = new Map<string, Promise<void>>();
  /** Online users whose group index loaded (a failed load is retried by the next replay). */
  private readonly indexed = new Set<string>();
  private count = 0;

  constructor(
    private readonly replayLiveBuffer: number,
    private readonly loadGroups: GroupLoader,
    private readonly bus: LiveBus = new NoBus(),
    private readonly lateCheck?: LateEventCheck,
    /** Events a connection's client cannot show are confirmed for it instead (DeliverySession). */
    private readonly withhold?: (session: DeliverySession, message: StoredMessage) => void,
  ) {}

  /**
   * Opens the session of a new connection. `ready` resolves once the user's events from other
   * instances reach this one and their groups are indexed: replay only after that, so nothing stored
   * meanwhile is missed (it is either replayed or delivered live).
   */
  add(connection: ChatConnection): { session: DeliverySession; ready: Promise<void> } {
    const session = new DeliverySession(connection, this.replayLiveBuffer, this.withhold);
    const { userId } = connection;
    let set = this.byUser.get(userId);
    let watched: Promise<void> | undefined;
    if (!set) {
      this.byUser.set(userId, (set = new Set()));
      this.groupsOf.set(userId, new Set());
      watched = this.bus.watch(userId);
    }
    set.add(session);
    this.count++;
    const indexed = this.prepare(userId);
    return { session, ready: watched ? Promise.all([watched, indexed]).then(() => {}) : indexed };
  }

  /** Resolves once the user's groups are indexed here (loading them again if the last load failed). */
  prepare(userId: string): Promise<void> {
    if (this.indexed.has(userId) || !this.byUser.has(userId)) return Promise.resolve();
    let load = this.loading.get(userId);
    if (!load) {
      load = this.indexGroups(userId).finally(() => this.loading.delete(userId));
      this.loading.set(userId, load);
    }
    return load;
  }

  remove(session: DeliverySession): void {
    const { userId } = session;
    const set = this.byUser.get(userId);
    if (!set?.delete(session)) return;
    this.count--;
    if (set.size > 0) return;
    this.byUser.delete(userId);
    for (const conversationId of this.groupsOf.get(userId) ?? []) this.unhear(conversationId, userId);
    this.groupsOf.delete(userId);
    this.indexed.delete(userId);
    this.bus.unwatch(userId);
  }

  get size(): number {
    return this.count;
  }

  isOnline(userId: string): boolean {
    return this.byUser.has(userId);
  }

  /** A newly stored message: to its members' devices here and on other instances. */
  deliver(message: StoredMessage): void {
    this.deliverHere(message, undefined);
    if (message.to === undefined) return this.bus.publishAll({ kind: 'message', message });
    this.bus.publish(message.to, { kind: 'message', message });
    if (message.to !== message.from) this.bus.publish(message.from, { kind: 'message', message });
  }

  /** Tells the sender's connections, here and on other instances, that a direct message was delivered. */
  deliveredAck(sender: string, messageId: string): void {
    this.sendToUser(sender, { type: 'ack_delivered', messageId });
    this.bus.publish(sender, { kind: 'delivered', sender, messageId });
  }

  /** A receipt or typing event to every member here and everywhere (groups: via the all-instances subject). */
  /** `except`: a user told nothing (the typer); `quiet`: a connection told nothing (the one whose act it reports). */
  toMembers(conversationId: string, members: readonly string[] | undefined, event: BusEvent & { kind: 'receipt' | 'typing' }, except?: string, quiet?: ChatConnection): void {
    if (members) {
      const serverEvent = toServerEvent(event);
      for (const member of members) {
        if (member === except) continue;
        this.sendToUser(member, serverEvent, quiet);
        this.bus.publish(member, event);
      }
      return;
    }
    this.toHearers(conversationId, toServerEvent(event), except, quiet);
    this.bus.publishAll(event);
  }

  /** To one user's devices, here and everywhere. */
  toUser(userId: string, event: BusEvent & { kind: 'receipt' | 'typing' }, quiet?: ChatConnection): void {
    this.sendToUser(userId, toServerEvent(event), quiet);
    this.bus.publish(userId, event);
  }

  /** A membership or title change: every user in `recipients` is told, and the group index follows. */
  conversationChanged(event: ConversationEventKind, conversation: Conversation, users: readonly string[], recipients: readonly string[]): void {
    for (const userId of recipients) {
      this.conversationHere(event, conversation, users, userId);
      this.bus.publish(userId, { kind: 'conversation', event, conversation, users });
    }
    // And to every instance, for its directory: one holding the group for a member not connected to it
    // kept the old member list for up to its TTL, so a removed member reconnecting there could still
    // type into the group. Member changes are rare (CONVERSATION_CHANGES_PER_MIN), so this costs little.
    this.bus.publishAll({ kind: 'conversation', event, conversation, users });
  }

  /** An event another instance published: for one user connected here, or for every instance. */
  fromBus(event: BusEvent, forUser: string | undefined): void {
    switch (event.kind) {
      case 'message':
        return this.deliverHere(event.message, forUser, this.lateCheck && Date.now() - event.message.ts > this.lateCheck.afterMs);
      case 'delivered':
        return this.sendToUser(event.sender, { type: 'ack_delivered', messageId: event.messageId });
      case 'receipt':
      case 'typing': {
        const except = event.kind === 'typing' ? event.userId : undefined;
        if (forUser === undefined) return this.toHearers(event.conversationId, toServerEvent(event), except);
        if (forUser !== except) this.sendToUser(forUser, toServerEvent(event));
        return;
      }
      case 'conversation':
        if (forUser !== undefined) this.conversationHere(event.event, event.conversation, event.users, forUser);
        return;
    }
  }

  /** Sends an event to every open connection of a user. */
  sendToUser(userId: string, event: ServerEvent, quiet?: ChatConnection): void {
    const set = this.byUser.get(userId);
    if (set) for (const session of set) if (session.connection !== quiet) session.connection.send(event);
  }

  /** Every open session (shutdown closes their connections). */
  sessions(): IterableIterator<DeliverySession> {
    const sets = this.byUser.values();
    return (function* () {
      for (const set of sets) yield* set;
    })();
  }

  /** Whether anyone here is a recipient of a message the bus brought (every group message reaches every instance). */
  hasHearers(message: StoredMessage): boolean {
    return isDirect(message) || this.hearers.has(message.conversationId);
  }

  private deliverHere(message: StoredMessage, forUser: string | undefined, late = false): void {
    const event: ServerEvent = { type: 'message', message };
    if (isDirect(message)) {
      if (forUser !== undefined) return this.deliverToUser(forUser, message, event, late);
      this.deliverToUser(message.from, message, event, late);
      if (message.to !== undefined && message.to !== message.from) this.deliverToUser(message.to, message, event, late);
      return;
    }
    const users = this.hearers.get(message.conversationId);
    if (users) for (const userId of users) this.deliverToUser(userId, message, event, late);
  }

  private deliverToUser(userId: string, message: StoredMessage, event: ServerEvent, late: boolean): void {
    const set = this.byUser.get(userId);
    if (!set) return;
    for (const session of set) {
      if (!late || !this.lateCheck) session.deliverLive(message, event);
      else {
        // Unknown: deliver (at-least-once until confirmed); a replay or sync covers what is dropped.
        this.lateCheck.confirmed(session, message).then(
          (confirmed) => confirmed || session.deliverLive(message, event),
          () => session.deliverLive(message, event),
        );
      }
    }
  }

  private toHearers(conversationId: string, event: ServerEvent, except: string | undefined, quiet?: ChatConnection): void {
    const users = this.hearers.get(conversationId);
    if (users) for (const userId of users) if (userId !== except) this.sendToUser(userId, event, quiet);
  }

  private conversationHere(event: ConversationEventKind, conversation: Conversation, users: readonly string[], userId: string): void {
    if (conversation.kind === 'group' && users.includes(userId) && this.groupsOf.has(userId)) {
      if (event === 'left' || event === 'removed') this.unhear(conversation.conversationId, userId);
      else this.hear(conversation.conversationId, userId);
    }
    this.sendToUser(userId, { type: 'conversation', event, conversation });
  }

  private async indexGroups(userId: string): Promise<void> {
    const ids = await this.loadGroups(userId);
    if (!this.groupsOf.has(userId)) return; // disconnected meanwhile
    for (const conversationId of ids) if (!isDirectConversationId(conversationId)) this.hear(conversationId, userId);
    this.indexed.add(userId);
  }

  private hear(conversationId: string, userId: string): void {
    this.groupsOf.get(userId)?.add(conversationId);
    let users = this.hearers.get(conversationId);
    if (!users) this.hearers.set(conversationId, (users = new Set()));
    users.add(userId);
  }

  private unhear(conversationId: string, userId: string): void {
    this.groupsOf.get(userId)?.delete(conversationId);
    const users = this.hearers.get(conversationId);
    if (users?.delete(userId) && users.size === 0) this.hearers.delete(conversationId);
  }
}

function toServerEvent(event: BusEvent & { kind: 'receipt' | 'typing' }): ServerEvent {
  if (event.kind === 'typing') return { type: 'typing', conversationId: event.conversationId, userId: event.userId };
  // Undefined watermarks stay undefined (no spread per field): encodeServerEvent leaves them out.
  return { type: 'receipt', conversationId: event.conversationId, userId: event.userId, deliveredSeq: event.deliveredSeq, readSeq: event.readSeq };
}

/** A direct message goes to its users' subjects; a group's to every instance. */
function isDirect(message: StoredMessage): boolean {
  return message.to !== undefined || isDirectConversationId(message.conversationId);
}
