// What the domain needs from a client connection: the transport implements it over a uWS socket and
// keeps nothing else of the domain's. Per-connection delivery state lives in DeliverySession.
import type { ServerEvent } from './events.js';

export interface ChatConnection {
  readonly id: number;
  readonly userId: string;
  /** The device this connection speaks for (`default` for v1 clients). */
  readonly deviceId: string;
  /** v1.2: the client takes edit and delete events (`message_event` frames). */
  readonly messageEvents: boolean;
  /**
   * A v1 client (its upgrade named none of v1.1's and later's parameters): sent only direct
   * conversations' messages, which carry v1's `to`. A group message has none, and a v1 client's user
   * can be added to a group by anyone. Its group messages stay pending for its device.
   */
  readonly directOnly: boolean;
  /** False once the connection is closing or closed; events sent then are dropped (they stay pending). */
  readonly open: boolean;
  /** Queues an event. Events queued in one event-loop turn are written together (one write). */
  send(event: ServerEvent): void;
  /** Bytes queued or buffered for this connection and not yet written to the network. */
  pressure(): number;
  /** Resolves true once queued bytes fell below the low-water mark, false if the connection closed first. */
  writable(): Promise<boolean>;
}
