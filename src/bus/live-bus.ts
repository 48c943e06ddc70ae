// Live delivery between server instances. Each instance delivers to the connections it holds; with
// more than one instance behind a load balancer, a message stored by one must reach member devices
// connected to another without waiting for a reconnect. The bus only carries that live traffic: the
// store stays the truth, and what the bus loses is still replayed on the next connect or `sync`.
//
// Two ways to address an event: to one user (their subject, watched while they are connected here),
// or to every instance (group traffic: one bus message per instance, not one per member; each
// instance delivers it to the members it holds).
import type { ConversationEventKind } from '../chat/events.js';
import type { Conversation, StoredMessage } from '../store/store.js';

export type BusEvent =
  /** A newly stored message. */
  | { readonly kind: 'message'; readonly message: StoredMessage }
  /** A first confirmation of a direct message, for its sender (the DELIVERED ack). */
  | { readonly kind: 'delivered'; readonly sender: string; readonly messageId: string }
  | { readonly kind: 'receipt'; readonly conversationId: string; readonly userId: string; readonly deliveredSeq?: number; readonly readSeq?: number }
  | { readonly kind: 'typing'; readonly conversationId: string; readonly userId: string }
  /** Membership or title changed: the members concerned are told, and instances update who hears a group. */
  | { readonly kind: 'conversation'; readonly event: ConversationEventKind; readonly conversation: Conversation; readonly users: readonly string[] }
  /** A user was banned, unbanned or had their tokens revoked (the server API): every instance updates its AccessList. */
  | { readonly kind: 'access'; readonly userId: string; readonly bannedAt: number | null; readonly tokensValidAfter: number; readonly updatedAt: number }
  /**
   * To every instance, from one whose link is back after an outage: what it published since `since`
   * (ms, its clock, with a margin) may be lost, so each instance catches its connected devices up from
   * the store once (src/chat/bus-fallback.ts). Published by the bus itself, never by the chat layer.
   */
  | { readonly kind: 'catchup'; readonly since: number };

/** `forUser`: the user whose subject carried the event; undefined for an event to every instance. */
export type BusHandler = (event: BusEvent, forUser: string | undefined) => void;

export interface LiveBus {
  readonly kind: 'none' | 'nats';
  /** Starts delivering other instances' events to `onEvent` (never this instance's own). */
  start(onEvent: BusHandler): Promise<void>;
  /** Subscribes to a user's events; resolves once the bus will route them here (or gave up trying). */
  watch(userId: string): Promise<void>;
  unwatch(userId: string): void;
  /** Best effort, never throws: the store and replay cover what the bus drops (or a link that was down drops). */
  publish(userId: string, event: BusEvent): void;
  /** To every other instance (group traffic). */
  publishAll(event: BusEvent): void;
  /**
   * Link state changes: false when events may be lost (not connected, or the server stopped answering
   * pings), true when they flow again. The chat layer polls the store in between (BUS_FALLBACK_POLL_MS).
   */
  onHealth(listener: (up: boolean) => void): void;
  close(): Promise<void>;
}

/** One instance: nothing to tell anybody. */
export class NoBus implements LiveBus {
  readonly kind = 'none';
  async start(): Promise<void> {}
  async watch(): Promise<void> {}
  unwatch(): void {}
  publish(): void {}
  publishAll(): void {}
  onHealth(): void {}
  async close(): Promise<void> {}
}
