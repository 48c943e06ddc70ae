// What the chat domain says to a client, as typed events. The domain never builds wire strings: the
// transport hands each event to protocol/ to encode (one place, so that batching or another encoding
// changes there alone), and counts frames by the event's `type`.
import type { ChatError } from '../errors.js';
import type { Conversation, StoredMessage } from '../store/store.js';

export type ConversationEventKind = 'created' | 'joined' | 'left' | 'removed' | 'updated';

export type ServerEvent =
  /** The send is durably stored (DB-first): the SENT ack. */
  | { readonly type: 'ack_sent'; readonly message: StoredMessage; readonly duplicate: boolean }
  /** A message for this connection's device, live or replayed; an edit or delete event (message.event) is a `message_event` frame. */
  | { readonly type: 'message'; readonly message: StoredMessage }
  /** v1.2: an edit or delete is stored and applied (the EDITED / DELETED ack); `event` is the stored event. */
  | { readonly type: 'ack_event'; readonly event: StoredMessage; readonly duplicate: boolean }
  /** The recipient confirmed a direct message this user sent (once per message). */
  | { readonly type: 'ack_delivered'; readonly messageId: string }
  /** A member's delivered and/or read watermark advanced. */
  | { readonly type: 'receipt'; readonly conversationId: string; readonly userId: string; readonly deliveredSeq?: number; readonly readSeq?: number }
  | { readonly type: 'typing'; readonly conversationId: string; readonly userId: string }
  | { readonly type: 'conversation'; readonly event: ConversationEventKind; readonly conversation: Conversation }
  /** The replay that follows a connect or a `sync` ended; `replayed` messages were sent before it. */
  | { readonly type: 'ready'; readonly replayed: number }
  /** `conversationId`: the conversation the refused frame named (read, typing, a watermark `delivered`). */
  | { readonly type: 'error'; readonly error: ChatError; readonly conversationId?: string };

export type ServerEventType = ServerEvent['type'];
