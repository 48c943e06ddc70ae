// Tier-0.6 release gate: the deterministic ack-drop test (docs/production-runbook.md, Step 5).
// Run alone with `npm run test:ack-drop` (JWT_SECRET=test); also part of `npm test`. It boots the real
// server on an ephemeral port per store (memory, and MongoDB when TEST_MONGO_URI is set) and drives it
// with real WebSocket clients. Prints the runbook's exact lines and exits 0 only if every check holds
// on every store; any failure prints a FAIL line and exits 1. Do not deploy if it fails.
import { loadConfig } from '../src/config.js';
import type { Store, StoreCounts, StoredMessage } from '../src/store/store.js';
import { createServer } from '../src/server.js';
import { signToken } from '../src/auth/jwt.js';
import { storeVariants, type StoreVariant } from './helpers/stores.js';
import { TestClient } from './helpers/ws-client.js';

interface Observation {
  readonly store: string;
  readonly counts: StoreCounts;
  readonly stored: StoredMessage | undefined;
  readonly sent: { messageId: string; from: string; to: string; body: string };
  readonly retryAck: Record<string, unknown>;
  readonly firstAck: Record<string, unknown>;
  readonly replayedIds: string[][];
  readonly replayedBodies: string[];
  readonly deliveryStatus: string | undefined;
  readonly deliveryMarks: number | undefined;
  readonly deliveredAcks: number;
  readonly secondReconnectReplayed: number;
  readonly unchangedAfterSecondReconnect: boolean;
}

async function runScenario(variant: StoreVariant): Promise<Observation> {
  const { config } = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: process.env.JWT_SECRET || 'test',
    PORT: '0',
    HOST: '127.0.0.1',
  });
  const store: Store = await variant.create();
  const server = await createServer(config, { store });
  const url = `ws://127.0.0.1:${server.port}${config.wsPath}`;
  const token = (userId: string) => signToken({ secret: config.jwt.secret, userId, ttlSec: 600 });
  try {
    const sent = { messageId: `ackdrop-${Date.now().toString(36)}`, from: 'A', to: 'B', body: 'Tier-0 ack-drop probe ✓' };

    // A sends to offline B; A's SENT ack is "dropped": A never reads it and loses the connection.
    const a1 = await TestClient.connect(url, { token: await token('A') });
    await a1.next((f) => f.type === 'ready');
    const firstAck = await a1.sendMessage(sent.messageId, sent.to, sent.body);
    await a1.terminate();

    // A reconnects and retries with the same messageId.
    const { client: a2 } = await TestClient.connectReady(url, await token('A'));
    const retryAck = await a2.sendMessage(sent.messageId, sent.to, sent.body);

    // B connects, receives the message, drops its `delivered` confirmation and disconnects.
    const b1 = await TestClient.connectReady(url, await token('B'));
    await b1.client.terminate();

    // B reconnects, gets the same message again, and confirms it.
    const b2 = await TestClient.connectReady(url, await token('B'));
    b2.client.send({ type: 'delivered', messageIds: b2.replayed.map((f) => f.messageId) });
    await a2.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === sent.messageId);
    await b2.client.close();

    // B reconnects a second time: nothing is replayed and the store does not change.
    const countsBefore = await store.counts();
    const storedBefore = await store.getMessage(sent.messageId);
    const stateBefore = await store.deliveryState(sent.messageId, sent.to);
    const b3 = await TestClient.connectReady(url, await token('B'));
    await b3.client.close();
    const counts = await store.counts();
    const stored = await store.getMessage(sent.messageId);
    const state = await store.deliveryState(sent.messageId, sent.to);
    await a2.close();

    return {
      store: variant.name,
      counts,
      stored,
      sent,
      firstAck,
      retryAck,
      replayedIds: [b1.replayed.map((f) => String(f.messageId)), b2.replayed.map((f) => String(f.messageId))],
      replayedBodies: [...b1.replayed, ...b2.replayed].map((f) => String(f.body)),
      deliveryStatus: state?.status,
      deliveryMarks: state?.marks,
      deliveredAcks: a2.frames.filter((f) => f.type === 'ack' && f.status === 'DELIVERED').length,
      secondReconnectReplayed: b3.replayed.length,
      unchangedAfterSecondReconnect:
        JSON.stringify(countsBefore) === JSON.stringify(counts) &&
        JSON.stringify(storedBefore) === JSON.stringify(stored) &&
        JSON.stringify(stateBefore) === JSON.stringify(state),
    };
  } finally {
    await server.close();
    await variant.cleanup();
  }
}

const CHECKS: [string, (o: Observation) => boolean][] = [
  ['DB contains exactly one message', (o) => o.counts.messages === 1 && o.counts.persists === 1],
  [
    'messageId unchanged',
    (o) =>
      o.stored?.messageId === o.sent.messageId &&
      o.firstAck.messageId === o.sent.messageId &&
      o.retryAck.messageId === o.sent.messageId &&
      o.replayedIds.every((ids) => ids.length === 1 && ids[0] === o.sent.messageId),
  ],
  [
    'Message content unchanged',
    (o) =>
      o.stored?.body === o.sent.body &&
      o.stored.from === o.sent.from &&
      o.stored.to === o.sent.to &&
      o.replayedBodies.every((body) => body === o.sent.body) &&
      o.retryAck.duplicate === true &&
      o.retryAck.ts === o.firstAck.ts &&
      o.firstAck.status === 'SENT',
  ],
  ['Message marked DELIVERED for B', (o) => o.deliveryStatus === 'delivered'],
  ['Delivery marked exactly once', (o) => o.deliveryMarks === 1 && o.counts.deliveryMarks === 1 && o.deliveredAcks === 1],
  ['No duplicate rows, no duplicate delivery entries', (o) => o.counts.messages === 1 && o.counts.deliveries === 1 && o.counts.delivered === 1],
  ['Second reconnect returns zero messages; DB unchanged', (o) => o.secondReconnectReplayed === 0 && o.unchangedAfterSecondReconnect],
];

async function main(): Promise<number> {
  const observations: Observation[] = [];
  for (const variant of storeVariants()) observations.push(await runScenario(variant));
  let failed = false;
  for (const [name, check] of CHECKS) {
    const failing = observations.filter((o) => !check(o));
    if (failing.length === 0) {
      console.log(`PASS: ${name}`);
    } else {
      failed = true;
      for (const o of failing) console.log(`FAIL: ${name} [store: ${o.store}] ${JSON.stringify(o)}`);
    }
  }
  if (failed) {
    console.log('Tier-0.6: ACK-drop test FAILED — do not deploy');
    return 1;
  }
  console.log('Tier-0.6: ACK-drop test passed — exactly-once persistence and delivery; CI gate OK');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.log(`FAIL: ACK-drop scenario did not complete: ${error instanceof Error ? error.stack : String(error)}`);
    console.log('Tier-0.6: ACK-drop test FAILED — do not deploy');
    process.exit(1);
  },
);
