// The runbook's Step 4 against a running server (scripts/production-check.sh starts it): WebSocket
// connect with the JWT cookie, send with its SENT ack, reconnect and replay, live delivery, confirmed
// messages never sent again, and the upgrade refusals. One PASS:/FAIL: line per step; exit 1 on any FAIL.
//   CHECK_URL=http://127.0.0.1:3000 WS_PATH=/ws JWT_SECRET=… CORS_ORIGIN=http://localhost:3000 \
//     node --import tsx scripts/production-check-flow.ts
import { signToken } from '../src/auth/jwt.js';
import { TestClient, upgradeStatus, type Frame } from '../test/helpers/ws-client.js';

const base = process.env.CHECK_URL ?? 'http://127.0.0.1:3000';
const wsUrl = base.replace(/^http/, 'ws') + (process.env.WS_PATH ?? '/ws');
const secret = process.env.JWT_SECRET ?? '';
const origin = (process.env.CORS_ORIGIN ?? 'http://localhost:3000').split(',')[0]!.trim();
const run = Date.now().toString(36); // fresh ids and users: the check never collides with earlier data

let failed = false;
async function step(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    console.log(`PASS: ${name}`);
  } catch (error) {
    failed = true;
    console.log(`FAIL: ${name} — ${error instanceof Error ? error.message : String(error)}`);
  }
}
function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

const cookieFor = async (userId: string) => `token=${await signToken({ secret, userId, ttlSec: 600 })}`;
const connect = async (userId: string) => {
  const client = await TestClient.connect(wsUrl, { cookie: await cookieFor(userId), origin });
  const ready = await client.next((f) => f.type === 'ready');
  const replayed = client.frames.slice(0, client.frames.indexOf(ready)).filter((f) => f.type === 'message');
  return { client, ready, replayed };
};
const ids = (frames: Frame[]) => JSON.stringify(frames.map((f) => f.messageId));

async function main(): Promise<void> {
  const [alice, bob] = [`check-a-${run}`, `check-b-${run}`];
  const [m1, m2] = [`check-1-${run}`, `check-2-${run}`];
  let a: Awaited<ReturnType<typeof connect>> | undefined;

  await step(`WebSocket connect at ${wsUrl} with the JWT cookie (Origin ${origin})`, async () => {
    a = await connect(alice);
    expect(a.ready.replayed === 0, `expected ready with replayed 0, got ${JSON.stringify(a.ready)}`);
  });
  if (!a) return;
  const sender = a.client;

  await step('upgrade refused without a token (401) and from another Origin (403)', async () => {
    const none = await upgradeStatus(wsUrl, { origin });
    const foreign = await upgradeStatus(wsUrl, { cookie: await cookieFor(alice), origin: 'https://evil.example.com' });
    expect(none === 401 && foreign === 403, `got ${none} and ${foreign}`);
  });

  let firstTs: unknown;
  await step('message send to an offline user: SENT ack after the store write', async () => {
    const ack = await sender.sendMessage(m1, bob, 'runbook check: offline');
    expect(ack.type === 'ack' && ack.status === 'SENT' && ack.duplicate === false, JSON.stringify(ack));
    firstTs = ack.ts;
  });

  await step('retry with the same messageId: same ack, duplicate:true, nothing stored twice', async () => {
    const ack = await sender.sendMessage(m1, bob, 'runbook check: offline');
    expect(ack.status === 'SENT' && ack.duplicate === true && ack.ts === firstTs, JSON.stringify(ack));
  });

  let b = await connect(bob).catch(() => undefined);
  await step('reconnect + replay: the recipient connects and gets the missed message, then ready', async () => {
    expect(b !== undefined, 'recipient could not connect');
    expect(ids(b!.replayed) === JSON.stringify([m1]) && b!.ready.replayed === 1, `replayed ${ids(b!.replayed)}`);
  });

  await step('live delivery to a connected recipient', async () => {
    expect(b !== undefined, 'recipient not connected');
    await sender.sendMessage(m2, bob, 'runbook check: live');
    const live = await b!.client.next((f) => f.type === 'message' && f.messageId === m2);
    expect(live.from === alice && live.body === 'runbook check: live', JSON.stringify(live));
  });

  await step('unconfirmed messages are replayed again after a dropped connection', async () => {
    await b?.client.terminate(); // no `delivered` sent: both stay pending
    b = await connect(bob);
    expect(ids(b.replayed) === JSON.stringify([m1, m2]), `replayed ${ids(b.replayed)}`);
  });

  await step('confirmed messages: DELIVERED ack to the sender, never replayed again', async () => {
    b!.client.send({ type: 'delivered', messageIds: [m1, m2] });
    for (const id of [m1, m2]) await sender.next((f) => f.type === 'ack' && f.status === 'DELIVERED' && f.messageId === id);
    await b!.client.close();
    const again = await connect(bob);
    await again.client.close();
    expect(again.replayed.length === 0, `replayed ${ids(again.replayed)}`);
  });
  await sender.close();
}

const deadline = setTimeout(() => {
  console.log('FAIL: the connect/send/reconnect/replay check did not finish within 30 s');
  process.exit(1);
}, 30_000);
main().then(
  () => {
    clearTimeout(deadline);
    process.exit(failed ? 1 : 0);
  },
  (error: unknown) => {
    console.log(`FAIL: the connect/send/reconnect/replay check crashed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
