// The JSON shapes of the conversation API's answers (docs/protocol.md, HTTP).
import type { ConversationListItem, StoredMessage } from '../store/store.js';
import { conversationView } from './server-frames.js';

export function messageView(message: StoredMessage): Record<string, unknown> {
  return {
    messageId: message.messageId,
    conversationId: message.conversationId,
    seq: message.seq,
    from: message.from,
    ...(message.to !== undefined ? { to: message.to } : {}),
    body: message.body,
    ts: message.ts,
  };
}

export function listItemView(item: ConversationListItem, userId: string): Record<string, unknown> {
  const { conversation } = item;
  const last = item.lastMessage;
  return {
    ...conversationView(conversation),
    ...(conversation.kind === 'direct' ? { peer: conversation.members.find((member) => member !== userId) ?? userId } : {}),
    lastSeq: item.lastSeq,
    lastMessage: last ? { messageId: last.messageId, from: last.from, body: last.body, ts: last.ts, seq: last.seq } : null,
    readSeq: item.readSeq,
    unread: item.unread,
  };
}
