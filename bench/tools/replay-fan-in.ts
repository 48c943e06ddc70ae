// A replay that spans many conversations: one user with one unconfirmed message in each of N direct
// conversations (N senders) connects, then syncs, R times; how long until `ready`, the server's CPU per
// replay, and what it does meanwhile to a bystander pair sending 100 messages a second, measured from
// its own process (so the replayed frames' parsing here does not delay its acks).
//
//   node --import tsx bench/tools/replay-fan-in.ts [--conversations 3000] [--rounds 3] [--ref <git ref>]
//
// --ref runs that commit's build after the working tree's, on fresh servers, for a before/after. The
// server runs with the benchmark settings (bench/lib/servers.ts: rate limits and the replay budget
// raised), so the figures are the replay's own cost, not the limits'.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { signTestToken } from '../lib/jwt.js';
import { cpuDelta, readProcCpu } from '../lib/proc-cpu.js';
import { BENCH_JWT_SECRET, prepareOurServer, startOurServer } from '../lib/servers.js';
import { closeWs, openWs } from '../lib/ws-connect.js';

const { values: args } = parseArgs({
  options: { conversations: { type: 'string', default: '3000' }, rounds: { type: 'string', default: '3' }, ref: { type: 'string' }, bystander: { type: 'string' } },
});

/** A connection of `userId` that counts message frames and hands out its `ready` frames in order. */
async function connect(url: string, userId: string) {
  let messages = 0;
  const readies: number[] = [];
  let waiter: ((replayed: number) => void) | undefined;
  const ws = await openWs(url, {
    token: await signTestToken(userId, BENCH_JWT_SECRET),
    timeoutMs: 10_000,
    onFrame: (data) => {
      const frame = JSON.parse(data) as { type: string; replayed?: number };
      if (frame.type === 'message') messages++;
      if (frame.type !== 'ready') return;
      if (waiter) waiter(frame.replayed ?? -1);
      else readies.push(frame.replayed ?? -1);
      waiter = undefined;
    },
  });
  const nextReady = () => (readies.length > 0 ? Promise.resolve(readies.shift()!) : new Promise<number>((resolve) => (waiter = resolve)));
  return { ws, nextReady, messages: () => messages };
}

/** p50 / p99 / max of `values`, in ms. */
function spread(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(2);
  return `${at(0.5)} / ${at(0.99)} / ${at(1)} ms (${sorted.length} sends)`;
}

/** The bystander process: sends every 10 ms and answers `report` with its send→SENT latencies since the last report. */
async function bystander(url: string): Promise<void> {
  const tag = `by-${process.pid}`;
  const receiver = await connect(url, `${tag}-to`);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const sender = await openWs(url, {
    token: await signTestToken(`${tag}-from`, BENCH_JWT_SECRET),
    timeoutMs: 10_000,
    onFrame: (data) => {
      const frame = JSON.parse(data) as { type: string; status?: string; messageId?: string };
      const at = frame.messageId === undefined ? undefined : sentAt.get(frame.messageId);
      if (frame.type === 'ack' && frame.status === 'SENT' && at !== undefined) latencies.push(performance.now() - at);
    },
  });
  let n = 0;
  const timer = setInterval(() => {
    const messageId = `${tag}-${n++}`;
    sentAt.set(messageId, performance.now());
    sender.send(JSON.stringify({ type: 'send', messageId, to: `${tag}-to`, body: 'x' }));
  }, 10);
  process.on('message', (message) => {
    if (message === 'report') process.send!(latencies.splice(0));
    if (message === 'stop') {
      clearInterval(timer);
      void Promise.all([closeWs(sender), closeWs(receiver.ws)]).then(() => process.exit(0));
    }
  });
  process.send!('ready');
}

async function run(ref: string | undefined, conversations: number, rounds: number): Promise<void> {
  const build = prepareOurServer(ref ? { ref } : {});
  const server = await startOurServer(build);
  const base = `127.0.0.1:${server.port}`;
  const url = `ws://${base}/ws`;
  const away = `away-${Date.now().toString(36)}`;
  try {
    // One message from each of N senders (a direct conversation each), over HTTP, 32 at a time.
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < conversations) {
        const i = next++;
        const response = await fetch(`http://${base}/api/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${await signTestToken(`${away}-from-${i}`, BENCH_JWT_SECRET)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ messageId: `${away}-${i}`, to: away, body: 'pending' }),
        });
        if (response.status !== 201) throw new Error(`send ${i}: ${response.status} ${await response.text()}`);
      }
    }));
    const child = fork(fileURLToPath(import.meta.url), ['--bystander', url], { execArgv: ['--import', 'tsx'] });
    const ask = () => new Promise<number[]>((resolve) => { child.once('message', (m) => resolve(m as number[])); child.send('report'); });
    await new Promise((resolve) => child.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const quiet = await ask();
    console.log(`\n${build.label}: ${conversations} conversations, one message pending in each`);
    console.log('| replay | round | to ready ms | server CPU ms | replayed |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (let round = 1; round <= rounds; round++) {
      let device: Awaited<ReturnType<typeof connect>> | undefined;
      for (const how of ['connect', 'sync'] as const) {
        const cpu0 = readProcCpu(server.pid);
        const t0 = performance.now();
        if (how === 'connect') device = await connect(url, away);
        else device!.ws.send(JSON.stringify({ type: 'sync' }));
        const replayed = await device!.nextReady();
        const ms = performance.now() - t0;
        const cpuMs = cpuDelta(cpu0, readProcCpu(server.pid)).totalUs / 1000;
        console.log(`| ${how} | ${round} | ${ms.toFixed(0)} | ${cpuMs.toFixed(0)} | ${replayed} |`);
        if (replayed !== conversations) throw new Error(`${how} replayed ${replayed}, not ${conversations}`);
      }
      await closeWs(device!.ws);
    }
    const during = await ask();
    child.send('stop');
    console.log(`bystander send→SENT p50 / p99 / max: quiet ${spread(quiet)}; during the replays ${spread(during)}`);
  } finally {
    await server.stop();
  }
}

if (args.bystander) await bystander(args.bystander);
else {
  const conversations = Number(args.conversations);
  const rounds = Number(args.rounds);
  await run(undefined, conversations, rounds);
  if (args.ref) await run(args.ref, conversations, rounds);
}
