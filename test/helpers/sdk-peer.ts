// A connected SDK client that records what the application sees, for the conversation tests: messages,
// receipts, typing, conversation events, gaps and readies, over a FaultyNetwork (faults on demand).
import type { ChatClient, ChatMessage, ConnectOptions, ConversationEvent, GapEvent, ReceiptEvent, TypingEvent } from '../../src/client/index.js';
import { connect } from '../../src/client/index.js';
import { FaultyNetwork } from './faulty-socket.js';
import type { TestServer } from './server.js';

/** Fast reconnects and hole checks, so a test spends its time on what it tests. */
export const QUICK: Partial<ConnectOptions> = { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, confirmDelayMs: 5, gapWaitMs: 100 };

export interface Peer {
  readonly client: ChatClient;
  readonly network: FaultyNetwork;
  readonly inbox: ChatMessage[];
  readonly receipts: ReceiptEvent[];
  readonly typing: TypingEvent[];
  readonly events: ConversationEvent[];
  readonly gaps: GapEvent[];
  readonly readies: number[];
}

export async function peer(t: TestServer, userId: string, options: Partial<ConnectOptions> = {}): Promise<Peer> {
  const network = new FaultyNetwork();
  const client = connect({ url: t.wsUrl, token: await t.token(userId), WebSocket: network.WebSocket, ...QUICK, ...options });
  const p: Peer = { client, network, inbox: [], receipts: [], typing: [], events: [], gaps: [], readies: [] };
  client.on('message', (m) => p.inbox.push(m));
  client.on('receipt', (r) => p.receipts.push(r));
  client.on('typing', (e) => p.typing.push(e));
  client.on('conversation', (e) => p.events.push(e));
  client.on('gap', (g) => p.gaps.push(g));
  client.on('ready', ({ replayed }) => p.readies.push(replayed));
  return p;
}

/** Resolves when `check` holds, re-checked on every event of the given clients (no sleeps). */
export function until(clients: readonly ChatClient[], check: () => boolean, timeoutMs = 15_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (error?: Error) => {
      clearTimeout(timer);
      offs.forEach((off) => off());
      if (error) reject(error);
      else resolve();
    };
    const events = ['message', 'delivered', 'error', 'state', 'ready', 'receipt', 'typing', 'conversation', 'gap'] as const;
    for (const client of clients) for (const event of events) offs.push(client.on(event, () => check() && done()));
    const timer = setTimeout(() => done(new Error('timed out waiting for a condition')), timeoutMs);
  });
}

/** Syncs until a replay brings nothing: every message for this device is confirmed in the store. */
export async function settle(p: Peer): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const seen = p.readies.length;
    await p.client.whenReady();
    p.client.sync();
    await until([p.client], () => p.readies.length > seen);
    if (p.readies[p.readies.length - 1] === 0) return;
  }
  throw new Error('replays never came back empty');
}

/** The seqs the app saw in one conversation, in the order it saw them. */
export function seqsIn(inbox: readonly ChatMessage[], conversationId: string): number[] {
  return inbox.filter((m) => m.conversationId === conversationId).map((m) => m.seq!);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
