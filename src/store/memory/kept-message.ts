// How the memory store keeps a message: its facts as fields of one fixed-shape object, its body in the
// BodyArena (body-arena.ts says why). Kept records never leave the store: what it hands out is a
// StoredMessage built from one (`storedMessage`), with the body read back.
import type { BodySpan } from './body-arena.js';
import type { MessageEventRef, StoredMessage } from '../store.js';

export class KeptMessage implements BodySpan {
  bodyChunk = 0;
  bodyAt = 0;
  bodyBytes = 0;

  constructor(
    readonly messageId: string,
    readonly conversationId: string,
    readonly seq: number,
    readonly from: string,
    readonly fromDevice: string | undefined,
    /** Direct conversations only: the other member. */
    readonly to: string | undefined,
    readonly ts: number,
    readonly event: MessageEventRef | undefined,
    readonly editedAt: number | undefined,
    readonly deleted: true | undefined,
  ) {}
}

/** The message as the Store interface gives it: absent fields left out, not set to undefined. */
export function storedMessage(kept: KeptMessage, body: string): StoredMessage {
  if (kept.event === undefined && kept.editedAt === undefined && !kept.deleted) {
    // A plain message, every send's: object literals, where a spread per optional field below is a
    // CopyDataProperties call each (callgrind: ~700 instructions per chat cycle).
    const { messageId, conversationId, seq, from, fromDevice, to, ts } = kept;
    if (fromDevice !== undefined) {
      return to !== undefined ? { messageId, conversationId, seq, from, fromDevice, to, body, ts } : { messageId, conversationId, seq, from, fromDevice, body, ts };
    }
    return to !== undefined ? { messageId, conversationId, seq, from, to, body, ts } : { messageId, conversationId, seq, from, body, ts };
  }
  return {
    messageId: kept.messageId,
    conversationId: kept.conversationId,
    seq: kept.seq,
    from: kept.from,
    ...(kept.fromDevice !== undefined ? { fromDevice: kept.fromDevice } : {}),
    ...(kept.to !== undefined ? { to: kept.to } : {}),
    body,
    ts: kept.ts,
    ...(kept.event !== undefined ? { event: kept.event } : {}),
    ...(kept.editedAt !== undefined ? { editedAt: kept.editedAt } : {}),
    ...(kept.deleted ? { deleted: true as const } : {}),
  };
}
