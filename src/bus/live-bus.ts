// Live delivery between server instances. Each instance delivers to the connections it holds; with
// more than one instance behind a load balancer, a message stored by one must reach a recipient
// connected to another without waiting for a reconnect, and a DELIVERED ack must reach the sender
// wherever it is connected. The bus only carries that live traffic: the store stays the truth, and a
// message the bus loses is still replayed on the next connect or `sync`.
import type { StoredMessage } from '../store/store.js';

export type BusEvent =
  /** A newly stored message, for the recipient's connections on other instances. */
  | { readonly kind: 'message'; readonly message: StoredMessage }
  /** A first confirmation, for the sender's connections on other instances (the DELIVERED ack). */
  | { readonly kind: 'delivered'; readonly sender: string; readonly messageId: string };

export interface LiveBus {
  readonly kind: 'none' | 'nats';
  /** Starts delivering other instances' events to `onEvent` (never this instance's own). */
  start(onEvent: (event: BusEvent) => void): Promise<void>;
  /** Subscribes to a user's events; resolves once the bus will route them here (or gave up trying). */
  watch(userId: string): Promise<void>;
  unwatch(userId: string): void;
  /** Best effort, never throws: the store and replay cover what the bus drops. */
  publish(userId: string, event: BusEvent): void;
  close(): Promise<void>;
}

/** One instance: nothing to tell anybody. */
export class NoBus implements LiveBus {
  readonly kind = 'none';
  async start(): Promise<void> {}
  async watch(): Promise<void> {}
  unwatch(): void {}
  publish(): void {}
  async close(): Promise<void> {}
}
