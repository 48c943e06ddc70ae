// The SDK's public types. Frame shapes follow docs/protocol.md. The SDK imports from the server's tree
// only what has no I/O and no Node API (protocol types, protocol/ids.ts, protocol/client-codec.ts and
// the neutral src/backoff.ts), so it bundles for the browser on its own.
import type { ErrorCode } from '../errors.js';
import type { EventAckFrame } from '../protocol/client-codec.js';
import type { ConversationEvent, GapEvent, ReceiptEvent, TypingEvent } from './conversation-types.js';

/**
 * A message for this device, as the application sees it: once per messageId and, per conversation,
 * in seq order. Direct messages carry `to`; group messages do not.
 */
export interface ChatMessage {
  readonly messageId: string;
  readonly from: string;
  /** Direct conversations only. */
  readonly to?: string;
  readonly body: string;
  /** The server's accept time (ms). */
  readonly ts: number;
  /** Protocol v1.1 (absent only from a v1 server). */
  readonly conversationId?: string;
  /** Its place in the conversation: 1, 2, 3… (v1.1; absent only from a v1 server). */
  readonly seq?: number;
  /** v1.2: edited (the body is the latest), when. */
  readonly editedAt?: number;
  /** v1.2: a deleted message replayed before its delete event (body ""). */
  readonly deleted?: true;
}

/**
 * v1.2: the answer to edit() and deleteMessage(): the EDITED / DELETED ack as the SDK hands it over
 * (`messageId` is the message changed; `duplicate` when an earlier attempt had already been applied).
 */
export type EventAck = Omit<EventAckFrame, 'type' | 'status'> & { readonly event: 'edited' | 'deleted' };

/** v1.2: another device or member edited or deleted a message (once per event, in seq order). */
export interface MessageEditEvent {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  /** Who edited or deleted it (a group's owner may delete others' messages). */
  readonly from: string;
  readonly ts: number;
  readonly eventId: string;
  /** `edited` only: the new body. */
  readonly body?: string;
}

export interface SentAck {
  readonly messageId: string;
  /** The server's accept time (ms). */
  readonly ts: number;
  /** True when an earlier attempt had already been stored (a retry after a lost ack). */
  readonly duplicate: boolean;
  /** v1.1: the conversation it was stored in and its seq there. */
  readonly conversationId?: string;
  readonly seq?: number;
}

/** Where a send goes: a user (the direct conversation with them, v1's `to`) or a conversation. */
export type SendTarget = { readonly to: string; readonly conversationId?: undefined } | { readonly conversationId: string; readonly to?: undefined };

/** Error codes the SDK reports: the server's, plus its own. */
export type ClientErrorCode = ErrorCode | 'closed' | 'outbox_full';

export interface ClientErrorEvent {
  readonly code: ClientErrorCode;
  readonly message: string;
  /** The message the refused frame was about (for an edit or delete: the message edited or deleted). */
  readonly messageId?: string;
  /** v1.2: the refused edit's or delete's eventId (`edit.<editId>`, `delete.<messageId>`), as the wire's error frame has it. */
  readonly eventId?: string;
  /** Seconds the server asked to wait (rate_limited, unavailable). */
  readonly retryAfter?: number;
  /** True when the SDK retries by itself (the send's promise stays pending). */
  readonly willRetry: boolean;
}

export type ClientState =
  /** Opening a socket. */
  | 'connecting'
  /** Socket open, replay running. */
  | 'open'
  /** Replay done: live from here on. */
  | 'ready'
  /** Waiting (backoff) before the next attempt. */
  | 'reconnecting'
  /** The browser reports no network; reconnects when it comes back. */
  | 'offline'
  /** close() was called, the credentials were refused for good, or the connection was (HTTP 400: Node only). */
  | 'closed';

export interface ClientEvents {
  message: ChatMessage;
  /** v1.2: a message was edited: show `body` in its place. */
  edited: MessageEditEvent;
  /** v1.2: a message was deleted: show it as deleted. */
  deleted: MessageEditEvent;
  /** The recipient confirmed one of this user's direct messages (sent to connections open at that moment). */
  delivered: { readonly messageId: string };
  /** A member's delivered or read watermark advanced (this user's own too: other devices read). */
  receipt: ReceiptEvent;
  /** A member is typing (relayed at most every 2 s per member). */
  typing: TypingEvent;
  /** A conversation was created, joined, left, removed from, or updated (live only: refetch the list after `ready`). */
  conversation: ConversationEvent;
  /** Messages fromSeq..toSeq of a conversation will not come over the socket: fetch them with history() if needed. */
  gap: GapEvent;
  /** The replay after a connect (or sync) finished; `replayed` messages came before it. */
  ready: { readonly replayed: number };
  error: ClientErrorEvent;
  state: ClientState;
}

/**
 * An event handler property. Declared through a method so that parameters compare bivariantly: the
 * browser's and `ws`'s sockets, whose handlers take richer event types, fit without a cast.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** What the SDK needs of a WebSocket: the browser's, or `ws`'s (Node 20). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  onerror: Handler<unknown> | null;
}

/** A WebSocket class. With a token it must take `{headers}` as the third argument, as `ws` does. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: { headers?: Record<string, string> }) => WebSocketLike;

export type FetchLike = (url: string, init: { method: string; headers?: Record<string, string>; credentials?: 'include'; body?: string }) => Promise<{
  readonly status: number;
  json(): Promise<unknown>;
}>;

export interface ConnectOptions {
  /** ws:// or wss:// URL of the server's WS_PATH, e.g. `wss://chat.example.com/ws`. */
  readonly url: string;
  /**
   * Bearer token (Node and other non-browser clients), or a function returning a fresh one (called at
   * connect and before expiry). Omit it in browsers: the session cookie set by /api/auth/login is used.
   */
  readonly token?: string | (() => string | Promise<string>);
  /**
   * This device's id (1-64 of [A-Za-z0-9_-]), sent as `?device=`: the server delivers per device and
   * replays to a device what it has not confirmed. Browsers: default read from localStorage, generated
   * and stored there once. Node: pass the same id on every run of one installation (one is generated
   * when absent, and then each run is a new device: see `deviceId`).
   */
  readonly device?: string;
  /**
   * Browsers: keep the generated device id in sessionStorage instead of localStorage, so that each tab
   * is a device of its own (the server skips a message only for the device that sent it, so two tabs
   * sharing an id would not show each other's sends); it survives the tab's reloads. Default false.
   */
  readonly devicePerTab?: boolean;
  /** Default: the global WebSocket (browsers). In Node 20 pass `WebSocket` from the `ws` package. */
  readonly WebSocket?: WebSocketConstructor;
  /** Base URL for /api/auth/refresh and /api/me. Default: derived from `url` (ws→http, wss→https). */
  readonly httpUrl?: string;
  readonly fetch?: FetchLike;
  /** Confirm each message after the `message` listeners ran (default true); else call confirm(). */
  readonly autoConfirm?: boolean;
  /**
   * Let the server hold `delivered` events (DELIVERED acks) and receipts for up to this many ms, to
   * send them with the next other frame to this client (protocol v1.3, `?ackDelayMs=`): fewer writes
   * and wake-ups for a client that sends a lot, ticks up to this much later. A whole number from 0 to
   * the server's ACK_DELAY_MAX_MS (default 1000); default 0: at once. Over the server's maximum the
   * server refuses the connection (HTTP 400): in Node (`ws`) the client ends with a `bad_request` error
   * carrying the server's message; a browser cannot read the refusal and keeps reconnecting.
   */
  readonly ackDelayMs?: number;
  /**
   * Let the server join the frames it writes together into one text frame, newline-separated (protocol
   * v1.4, `?batch=1`): fewer frames for the server to send and for this client to receive. Most useful
   * with `ackDelayMs`, which makes ticks go out together with the next SENT ack. Default false.
   */
  readonly batch?: boolean;
  /** Wait this long to batch confirmations into one `delivered` frame (default 20 ms). */
  readonly confirmDelayMs?: number;
  /** messageIds remembered to drop repeats (default 10 000). */
  readonly dedupeSize?: number;
  /** Unacked sends kept (default 1000); past it send() rejects with `outbox_full`. */
  readonly maxOutbox?: number;
  /**
   * Sends (edits, deletes) written on the socket and not answered yet, at most (default 8); the rest
   * wait in the outbox. When the server's send rate limit refuses one, those in flight are refused
   * too, and RATE_LIMITED_CLOSE_AFTER (default 20) refusals within 10 s close the socket (1008): keep
   * it under half that. Raise it together with the server's SEND_RATE_PER_SEC for a far-away server
   * (at most maxInFlight per round trip go out).
   */
  readonly maxInFlight?: number;
  /** A written send with no answer for this long means the socket is dead: reconnect (default 15 000). */
  readonly ackTimeoutMs?: number;
  /**
   * A socket that received nothing for this long is probed with a `sync` (answered by `ready`); no
   * answer within ackTimeoutMs and it is replaced. Catches connections that die silently. 0 disables
   * it. Default 60 000: each probe costs the server one (usually empty) pending-messages read.
   */
  readonly heartbeatMs?: number;
  /** A socket not open after this long is abandoned (default 10 000). */
  readonly connectTimeoutMs?: number;
  /**
   * Reconnect backoff: exponential from initial to max, with jitter (defaults 250 ms, 15 000 ms); it
   * starts over when a connection that stayed up resetAfterMs after its `ready` drops (default 5 000).
   */
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number; readonly resetAfterMs?: number };
  /** Refresh the token this long before it expires (default 60 000, at most half its lifetime). */
  readonly refreshBeforeExpiryMs?: number;
  /** Browsers: drop the socket on `offline`, reconnect at once on `online` (default true where available). */
  readonly watchNetwork?: boolean;
  /**
   * A seq hole in a conversation (a later message came first) is waited for this long, then checked
   * with a replay; what the replay does not fill is reported as a `gap` (default 1000 ms).
   */
  readonly gapWaitMs?: number;
  /** Out-of-order messages held per conversation while a hole is open (default 1000); past it the hole is a gap. */
  readonly maxHeldPerConversation?: number;
  /** Conversations whose seq order is tracked (default 1000, least recently active forgotten first). */
  readonly maxTrackedConversations?: number;
  /** HTTP API calls: attempts for a network error, 429 or 503 (default 3), the same Idempotency-Key each time. */
  readonly httpAttempts?: number;
}
