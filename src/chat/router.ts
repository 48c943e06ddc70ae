// Who is online here: userId → the delivery sessions of their open connections. Live delivery goes to
// every session of the recipient (each holds it back while replaying, and never sends it twice).
// With a live bus (several instances), what happens here is also published for the other instances,
// and what they publish for users connected here is delivered as if it had happened here.
import { NoBus, type BusEvent, type LiveBus } from '../bus/live-bus.js';
import type { StoredMessage } from '../store/store.js';
import type { ChatConnection } from './connection.js';
import { DeliverySession } from './delivery-session.js';
import type { ServerEvent } from './events.js';

export class DeliveryRouter {
  private readonly byUser = new Map<string, Set<DeliverySession>>();
  private count = 0;

  constructor(
    private readonly replayLiveBuffer: number,
    private readonly bus: LiveBus = new NoBus(),
  ) {}

  /**
   * Opens the session of a new connection. `subscribed` resolves once the user's events from other
   * instances reach this one: replay only after that.
   */
  add(connection: ChatConnection): { session: DeliverySession; subscribed: Promise<void> } {
    const session = new DeliverySession(connection, this.replayLiveBuffer);
    let set = this.byUser.get(connection.userId);
    const first = !set;
    if (!set) this.byUser.set(connection.userId, (set = new Set()));
    set.add(session);
    this.count++;
    return { session, subscribed: first ? this.bus.watch(connection.userId) : Promise.resolve() };
  }

  remove(session: DeliverySession): void {
    const set = this.byUser.get(session.userId);
    if (!set?.delete(session)) return;
    this.count--;
    if (set.size === 0) {
      this.byUser.delete(session.userId);
      this.bus.unwatch(session.userId);
    }
  }

  get size(): number {
    return this.count;
  }

  isOnline(userId: string): boolean {
    return this.byUser.has(userId);
  }

  /** Sends a newly stored message to its recipient's connections, here and on other instances. */
  deliver(message: StoredMessage): void {
    this.deliverHere(message);
    this.bus.publish(message.to, { kind: 'message', message });
  }

  /** Tells the sender's connections, here and on other instances, that a message was delivered. */
  deliveredAck(sender: string, messageId: string): void {
    this.sendToUser(sender, { type: 'ack_delivered', messageId });
    this.bus.publish(sender, { kind: 'delivered', sender, messageId });
  }

  /** An event another instance published for a user connected here. */
  fromBus(event: BusEvent): void {
    if (event.kind === 'message') this.deliverHere(event.message);
    else this.sendToUser(event.sender, { type: 'ack_delivered', messageId: event.messageId });
  }

  private deliverHere(message: StoredMessage): void {
    const set = this.byUser.get(message.to);
    if (!set) return;
    const event: ServerEvent = { type: 'message', message };
    for (const session of set) session.deliverLive(message, event);
  }

  /** Sends an event to every open connection of a user (acks to a sender's other devices). */
  sendToUser(userId: string, event: ServerEvent): void {
    const set = this.byUser.get(userId);
    if (set) for (const session of set) session.connection.send(event);
  }

  /** Every open session (shutdown closes their connections). */
  sessions(): IterableIterator<DeliverySession> {
    const sets = this.byUser.values();
    return (function* () {
      for (const set of sets) yield* set;
    })();
  }
}
