// Who is online here: userId → open connections. Live delivery goes to every connection of the
// recipient; a connection still replaying buffers live messages so they never jump ahead of older ones.
import { encodeMessage } from '../protocol/frames.js';
import type { StoredMessage } from '../store/store.js';
import type { ChatConnection } from './connection.js';

export class DeliveryRouter {
  private readonly byUser = new Map<string, Set<ChatConnection>>();
  private count = 0;

  constructor(private readonly replayLiveBuffer: number) {}

  add(connection: ChatConnection): void {
    let set = this.byUser.get(connection.userId);
    if (!set) this.byUser.set(connection.userId, (set = new Set()));
    set.add(connection);
    this.count++;
  }

  remove(connection: ChatConnection): void {
    const set = this.byUser.get(connection.userId);
    if (!set?.delete(connection)) return;
    this.count--;
    if (set.size === 0) this.byUser.delete(connection.userId);
  }

  get size(): number {
    return this.count;
  }

  isOnline(userId: string): boolean {
    return this.byUser.has(userId);
  }

  /** Sends a newly stored message to its recipient's connections. */
  deliver(message: StoredMessage): void {
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
