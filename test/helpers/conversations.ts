// Helpers for the v1.1 conversation suites: devices on the WebSocket URL, the JSON API, and a barrier
// that proves "nothing more arrived" without sleeping blindly.
import type { TestServer } from './server.js';
import { TestClient, type Frame } from './ws-client.js';

let counter = 0;
/** A unique id per call (user ids, message ids, idempotency keys). */
export const uid = (prefix = 'x') => `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;

/** The WebSocket URL for a device (none: a v1 client). */
export function deviceUrl(t: TestServer, device?: string): string {
  return device === undefined ? t.wsUrl : `${t.wsUrl}?device=${device}`;
}

/** Connects one device of a user and waits for `ready`. */
export async function connectDevice(t: TestServer, userId: string, device?: string): Promise<{ client: TestClient; replayed: Frame[] }> {
  return TestClient.connectReady(deviceUrl(t, device), await t.token(userId));
}

export interface ApiResult {
  readonly status: number;
  readonly body: any;
}

/** One JSON API call as `userId`. */
export async function api(t: TestServer, userId: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult> {
  const response = await fetch(`${t.httpUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await t.token(userId)}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Creates a group owned by `owner`; asserts nothing (callers check the status). */
export function createGroup(t: TestServer, owner: string, members: string[], title = 'group', headers: Record<string, string> = {}): Promise<ApiResult> {
  return api(t, owner, 'POST', '/api/conversations', { title, members }, headers);
}

/** Sends into a conversation and waits for the SENT ack or the error. */
export async function sendTo(client: TestClient, conversationId: string, messageId: string, body: string): Promise<Frame> {
  client.send({ type: 'send', messageId, conversationId, body });
  return client.next((f) => f.messageId === messageId && (f.type === 'error' || (f.type === 'ack' && f.status === 'SENT')));
}

/**
 * A round trip through the server and its store on this connection: a watermark confirmation for a
 * conversation that does not exist, answered not_found after a store lookup. It adds no message
 * frames (a `sync` would replay unconfirmed messages again), so counts stay exact.
 */
export async function barrier(client: TestClient): Promise<void> {
  const conversationId = `g:barrier-${uid('b')}`;
  client.send({ type: 'delivered', conversationId, seq: 0 });
  await client.next((f) => f.type === 'error' && f.code === 'not_found' && typeof f.message === 'string');
}

/** Lets pending store work and setImmediate flushes (receipts) run, then a round trip per client. */
export async function settle(...clients: TestClient[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  await Promise.all(clients.map((client) => barrier(client)));
}

export const messagesOf = (client: TestClient, messageId: string) => client.frames.filter((f) => f.type === 'message' && f.messageId === messageId);
const isDeliveredFrame = (f: Frame) => f.type === 'ack' && f.status === 'DELIVERED';
/** A DELIVERED ack for this message (for `next` and `filter`). */
export const isDeliveredAck = (messageId: string) => (f: Frame) => isDeliveredFrame(f) && f.messageId === messageId;
export const deliveredAcks = (client: TestClient, messageId?: string) => client.frames.filter(messageId === undefined ? isDeliveredFrame : isDeliveredAck(messageId));
