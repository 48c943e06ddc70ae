// What the domain needs from a client connection. The transport implements it over a uWS socket;
// the domain never sees the socket itself.

export interface ChatConnection {
  readonly id: number;
  readonly userId: string;
  /** False once the connection is closing or closed; frames sent then are dropped (they stay pending). */
  readonly open: boolean;
  /** Queues a text frame. Frames queued in one event-loop turn are written together (one cork). */
  send(frame: string): void;
  /** Bytes queued or buffered for this connection and not yet written to the network. */
  pressure(): number;
  /** Resolves true once queued bytes fell below the low-water mark, false if the connection closed first. */
  writable(): Promise<boolean>;
  /** Replay bookkeeping, owned by ReplayService. */
  replay: ReplayState | undefined;
  /** Recent messages the last replay sent, which a send still finishing may try to deliver live again. */
  replayedRecently: RecentlyReplayed | undefined;
}

export interface RecentlyReplayed {
  readonly ids: Set<string>;
  /** After this time (ms) no send that was in flight during the replay can still deliver. */
  readonly until: number;
}

export interface ReplayState {
  /** Live messages that arrived during the replay, sent after it in order. */
  readonly buffered: import('../store/store.js').StoredMessage[];
  /** The live buffer hit its bound: what was dropped is in the store, so one more pass picks it up. */
  overflowed: boolean;
  /** A `sync` arrived during this replay: run once more when it ends. */
  again: boolean;
}
