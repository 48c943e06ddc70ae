// The client's side of the wire (docs/protocol.md): decoding the server's frames and encoding the
// client's, beside the server's side in frames.ts. The SDK uses it instead of reading JSON by hand, so
// a frame's shape is stated once, as a type, here. No I/O, no Node API and only type imports, so the
// SDK's browser bundle takes it without server code.
import type { ErrorCode } from '../errors.js';
import type { ClientFrame, MessageView } from './frames.js';

export interface SentAckFrame {
  readonly type: 'ack';
  readonly status: 'SENT';
  readonly messageId: string;
  /** The server's accept time (ms). */
  readonly ts: number;
  readonly duplicate: boolean;
}

export interface DeliveredAckFrame {
  readonly type: 'ack';
  readonly status: 'DELIVERED';
  readonly messageId: string;
}

export interface MessageFrame extends MessageView {
  readonly type: 'message';
}

export interface ReadyFrame {
  readonly type: 'ready';
  readonly replayed: number;
}

export interface ErrorFrame {
  readonly type: 'error';
  readonly code: ErrorCode;
  readonly message: string;
  /** Present when the refused frame carried a valid messageId (a send); absent for delivered and sync. */
  readonly messageId?: string;
  /** Seconds to wait before trying again (rate_limited, unavailable). */
  readonly retryAfter?: number;
}

export type ServerFrame = SentAckFrame | DeliveredAckFrame | MessageFrame | ReadyFrame | ErrorFrame;

/**
 * One text frame from the server, or undefined for what this version does not know or cannot use
 * (ignored rather than fatal, so a newer server may add frame types and fields).
 */
export function decodeServerFrame(text: string): ServerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const frame = value as Record<string, unknown>;
  const messageId = typeof frame.messageId === 'string' ? frame.messageId : undefined;
  switch (frame.type) {
    case 'ack':
      if (messageId === undefined) return undefined;
      if (frame.status === 'SENT') return { type: 'ack', status: 'SENT', messageId, ts: Number(frame.ts), duplicate: frame.duplicate === true };
      if (frame.status === 'DELIVERED') return { type: 'ack', status: 'DELIVERED', messageId };
      return undefined;
    case 'message': {
      const { from, to, body, ts } = frame;
      if (messageId === undefined || typeof from !== 'string' || typeof to !== 'string' || typeof body !== 'string' || typeof ts !== 'number') return undefined;
      return { type: 'message', messageId, from, to, body, ts };
    }
    case 'ready':
      return { type: 'ready', replayed: Number(frame.replayed) || 0 };
    case 'error': {
      const code = String(frame.code) as ErrorCode;
      return {
        type: 'error',
        code,
        message: typeof frame.message === 'string' ? frame.message : code,
        ...(messageId !== undefined ? { messageId } : {}),
        ...(typeof frame.retryAfter === 'number' ? { retryAfter: frame.retryAfter } : {}),
      };
    }
    default:
      return undefined;
  }
}

/** A client frame as the server parses it (parseClientFrame in frames.ts). */
export function encodeClientFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}
