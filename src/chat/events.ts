// What the chat domain says to a client, as typed events. The domain never builds wire strings: the
// transport hands each event to protocol/ to encode (one place, so that batching or another encoding
// changes there alone), and counts frames by the event's `type`.
import type { ChatError } from '../errors.js';
import type { StoredMessage } from '../store/store.js';

export type ServerEvent =
  /** The send is durably stored (DB-first): the SENT ack. */
  | { readonly type: 'ack_sent'; readonly messageId: string; readonly ts: number; readonly duplicate: boolean }
  /** A message for this connection's user, live or replayed. */
  | { readonly type: 'message'; readonly message: StoredMessage }
  /** The recipient confirmed a message this user sent (once per message). */
  | { readonly type: 'ack_delivered'; readonly messageId: string }
  /** The replay that follows a connect or a `sync` ended; `replayed` messages were sent before it. */
  | { readonly type: 'ready'; readonly replayed: number }
  | { readonly type: 'error'; readonly error: ChatError };

export type ServerEventType = ServerEvent['type'];
