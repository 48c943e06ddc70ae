// Who is online here: userId → open connections. Live delivery goes to every connection of the
// recipient; a connection still replaying buffers live messages so they never jump ahead of older ones.
// With a live bus (several instances), what happens here is also published for the other instances,
// and what they publish for users connected here is delivered as if it had happened here.
import { NoBus, type BusEvent, type LiveBus } from '../bus/live-bus.js';
import { encodeDeliveredAck, encodeMessage } from '../protocol/frames.js';
import type { StoredMessage } from '../store/store.js';
import type { ChatConnection } from './connection.js';

export class DeliveryRouter {
  private readonly byUser = new Map<string, Set<ChatConnection>>();
  private count = 0;

  constructor(
    private readonly replayLiveBuffer: number,
    private readonly bus: LiveBus = new NoBus(),
  ) {}

  /** Resolves once the user's events from other instances reach this one: replay only after that. */
  add(connection: ChatConnection): Promise<void> {
    let set = this.byUser.get(connection.userId);
    const first = !set;
    if (!set) this.byUser.set(connection.userId, (set = new Set()));
    set.add(connection);
    this.count++;
    return first ? this.bus.watch(connection.userId) : Promise.resolve();
  }

  remove(connection: ChatConnection): void {
    const set = this.byUser.get(connection.userId);
    if (!set?.delete(connection)) return;
    this.count--;
    if (set.size === 0) {
      this.byUser.delete(connection.userId);
      this.bus.unwatch(connection.userId);
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
    this.sendToUser(sender, encodeDeliveredAck(messageId));
    this.bus.publish(sender, { kind: 'delivered', sender, messageId });
  }

  /** An event another instance published for a user connected here. */
  fromBus(event: BusEvent): void {
    if (event.kind === 'message') this.deliverHere(event.message);
    else this.sendToUser(event.sender, encodeDeliveredAck(event.messageId));
  }

  private deliverHere(message: StoredMessage): void {
    const set = this.byUser.get(message.to);
    if (!set) return;
    let frame: string | undefined;
    for (const connection of set) {
      const replay = connection.replay;
      if (replay) {
        if (replay.buffered.length < this.replayLiveBuffer) replay.buffered.push(message);
        else replay.overflowed = true;
        continue;
      }
      if (connection.replayedRecently && wasJustReplayed(connection, message.messageId)) continue;
      connection.send((frame ??= encodeMessage(message)));
    }
  }

  /** Sends a frame to every open connection of a user (acks to a sender's other devices). */
  sendToUser(userId: string, frame: string): void {
    const set = this.byUser.get(userId);
    if (set) for (const connection of set) connection.send(frame);
  }

  connections(): IterableIterator<ChatConnection> {
    const sets = this.byUser.values();
    return (function* () {
      for (const set of sets) yield* set;
    })();
  }
}

/**
 * A send whose store write was acknowledged just before a replay read it, but whose promise settles just
 * after the replay ended, would deliver the message a second time on the same connection. The replay
 * leaves the ids it sent of recently accepted messages; each is skipped once, and the list expires.
 */
function wasJustReplayed(connection: ChatConnection, messageId: string): boolean {
  const recent = connection.replayedRecently!;
  if (Date.now() > recent.until) {
    connection.replayedRecently = undefined;
    return false;
  }
  return recent.ids.delete(messageId);
}
