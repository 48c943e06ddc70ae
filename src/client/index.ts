// The chat client SDK (package entry `uws-chat-backend/client`). Works in browsers (global WebSocket,
// session cookie) and in Node 20 (pass `WebSocket` from `ws` and a token).
//
// @example
//   import WebSocket from 'ws';
//   import { connect } from 'uws-chat-backend/client';
//   const chat = connect({ url: 'wss://chat.example.com/ws', token, WebSocket });
//   chat.on('message', (m) => console.log(`${m.from}: ${m.body}`)); // once per message, confirmed for you
//   const ack = await chat.send('bob', 'hello');                     // resolves once stored (SENT)
//   const group = await chat.conversations.create({ title: 'Team', members: ['bob', 'carl'] });
//   await chat.send({ conversationId: group.conversationId }, 'hi team');
import { ChatClient } from './client.js';
import type { ConnectOptions } from './types.js';

export { ChatClient } from './client.js';
export { ChatClientError } from './client-error.js';
export { ConversationsApi } from './conversations.js';
export { DEVICE_STORAGE_KEY } from './device.js';
export { newMessageId } from './ids.js';
export type { ChatMessage, ClientErrorCode, ClientErrorEvent, ClientEvents, ClientState, ConnectOptions, EventAck, FetchLike, MessageEditEvent, SendTarget, SentAck, WebSocketConstructor, WebSocketLike } from './types.js';
export type {
  Conversation,
  ConversationDetail,
  ConversationEvent,
  ConversationEventKind,
  ConversationKind,
  ConversationListItem,
  ConversationPage,
  GapEvent,
  HistoryMessage,
  HistoryOptions,
  HistoryPage,
  LastMessage,
  MemberReceipt,
  ReceiptEvent,
  TypingEvent,
} from './conversation-types.js';

/** Opens a client; it connects (and keeps reconnecting) in the background. */
export function connect(options: ConnectOptions): ChatClient {
  return new ChatClient(options);
}
