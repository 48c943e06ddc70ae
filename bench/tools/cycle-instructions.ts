// Instructions the server's main thread executes per full chat cycle (send → SENT → message →
// delivered → DELIVERED), counted by valgrind's callgrind: a before/after of the hot path's JavaScript
// that this shared, noisy machine cannot blur. Timed runs of the same build here spread by ±15 %;
// the main thread's instruction count repeats within 1-2 %, though now and then a round reads ~10 %
// high whatever the build: take two rounds or more and compare the lower ones (bench/RESULTS.md,
// "Instructions per chat cycle", "Where a chat cycle's instructions go"). What it does not see: the
// kernel (syscalls are not counted), cache misses and stalls (an instruction is an instruction), and
// work on other threads (reported beside; with the default flags V8 has none, and with production's,
// GC and JIT helpers vary run to run by thousands per cycle). bench/tools/callgrind-functions.ts
// names where the instructions go, from a dump kept with --keep.
//
//   node --import tsx bench/tools/cycle-instructions.ts [--ref REF] [--rounds 2] [--warm 20000] [--cycles 6000] [--pairs 16]
//     [--node-flags="--single-threaded --no-memory-reducer"] [--keep]   (the = is needed: the value starts with a dash)
//     [--query '?batch=1'] (on every client's URL)  [--in-flight 1] (messages in flight per sender)
//     [--next-on delivered|sent] (a sender's next send follows each DELIVERED ack, the default, or each
//       SENT ack: what held acks need, `--query '?ackDelayMs=250'`, since they hold the DELIVERED ack
//       for the sender's next frame; a cycle still counts when its DELIVERED ack is in). Give it
//       --warm 60000: after 20,000 cycles of that shape TurboFan still compiled inside the measured
//       window (10.9 k of 77.9 k per cycle; callgrind-functions.ts prints that share)
//
// The defaults are the steady ones: V8's JIT and GC on the main thread (`--single-threaded`), where
// they are counted and driven by the work rather than by the clock (valgrind slows the clock ~50×),
// and a warm-up long enough for the JIT to settle. Node flags as in production (--node-flags '')
// spread ±4 % between rounds.
//
// Each build (this tree, compiled; --ref compiled as `paced.ts --compare` does) runs under
// `valgrind --tool=callgrind --separate-threads=yes` on the memory store, rounds alternating between
// builds. Pairs of senders and recipients make chat cycles, each sender waiting for its DELIVERED ack
// before the next send; the first --warm cycles let the JIT settle, then the counters are zeroed
// (`callgrind_control --zero`), --cycles more run, and the counts are dumped. About 2.5 minutes per
// build and round. Needs valgrind (Debian's `valgrind` package).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { signTestToken } from '../lib/jwt.js';
import { BENCH_JWT_SECRET, ourServerEnv, prepareOurServer, type ServerBuild } from '../lib/servers.js';
import { startServer } from '../lib/spawn.js';
import { openWs } from '../lib/ws-connect.js';

const { values: args } = parseArgs({
  options: {
    ref: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    warm: { type: 'string', default: '20000' },
    cycles: { type: 'string', default: '6000' },
    pairs: { type: 'string', default: '16' },
    'node-flags': { type: 'string', default: '--single-threaded --no-memory-reducer' },
    keep: { type: 'boolean', default: false },
    query: { type: 'string', default: '' },
    'in-flight': { type: 'string', default: '1' },
    'next-on': { type: 'string', default: 'delivered' },
  },
});
const WARM = Number(args.warm);
const CYCLES = Number(args.cycles);
const PAIRS = Number(args.pairs);
const IN_FLIGHT = Number(args['in-flight']);
if (args['next-on'] !== 'delivered' && args['next-on'] !== 'sent') throw new Error(`--next-on must be delivered or sent, got ${args['next-on']}`);
const NEXT_ON = args['next-on'] === 'sent' ? 'SENT' : 'DELIVERED';
const NODE_FLAGS = (args['node-flags'] ?? '').split(/\s+/).filter(Boolean);
const BODY = 'a chat message of a modest size, as most are: sixty-four bytes..';

interface Counted {
  /** Main-thread instructions per measured cycle. */
  main: number;
  /** All other threads together (GC helpers, JIT compilers, libuv), per cycle. */
  others: number;
}

/** A sender: its socket, and what to do with each frame it gets (set by `cycles`). */
interface Sender {
  ws: WebSocket;
  onFrame: (frame: { type: string; status?: string; code?: string }) => void;
}

async function connectPairs(port: number): Promise<{ senders: Sender[]; sockets: WebSocket[] }> {
  const url = `ws://127.0.0.1:${port}/ws${args.query}`;
  // A text frame may hold several frames, newline-separated (protocol v1.4, `--query ?batch=1`).
  const open = async (user: string, onFrame: (text: string) => void) =>
    openWs(url, { token: await signTestToken(user, BENCH_JWT_SECRET), timeoutMs: 60_000, onFrame: (text) => text.split('\n').forEach(onFrame) });
  const senders: Sender[] = [];
  const sockets: WebSocket[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const sender: Sender = { ws: undefined as unknown as WebSocket, onFrame: () => {} };
    sender.ws = await open(`cs${i}`, (text) => sender.onFrame(JSON.parse(text) as { type: string }));
    senders.push(sender);
    // The recipient confirms each message as it comes.
    const recipient: WebSocket = await open(`cr${i}`, (text) => {
      const frame = JSON.parse(text) as { type: string; messageId?: string };
      if (frame.type === 'message') recipient.send(JSON.stringify({ type: 'delivered', messageIds: [frame.messageId] }));
    });
    sockets.push(sender.ws, recipient);
  }
  return { senders, sockets };
}

/** `count` cycles over all pairs, each sender --in-flight messages in flight (a new send per --next-on ack). */
async function cycles(senders: Sender[], count: number, tag: string): Promise<void> {
  let started = 0;
  let done = 0;
  await Promise.all(
    senders.map(
      (sender, i) =>
        new Promise<void>((resolve, reject) => {
          const next = () => {
            if (started >= count) return resolve();
            sender.ws.send(JSON.stringify({ type: 'send', messageId: `${tag}-${started++}`, to: `cr${i}`, body: BODY }));
          };
          sender.onFrame = (frame) => {
            if (frame.type === 'error') reject(new Error(`server answered ${frame.code}`));
            if (frame.type !== 'ack') return;
            if (frame.status === 'DELIVERED') done++;
            if (frame.status === NEXT_ON) next();
          };
          for (let k = 0; k < IN_FLIGHT; k++) next();
        }),
    ),
  );
  // Senders that found the count reached stop without waiting: wait for the stragglers' acks.
  while (done < started) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** The totals of the dump named `measured`, once its main thread's file is complete. */
function readDump(dir: string): Counted | undefined {
  let main: number | undefined;
  let others = 0;
  for (const name of readdirSync(dir).filter((f) => f.startsWith('out'))) {
    const text = readFileSync(join(dir, name), 'utf8');
    const total = /^(?:summary|totals): (\d+)/m.exec(text)?.[1];
    if (!/^desc: Trigger: .*measured/m.test(text) || total === undefined) continue;
    if (name.endsWith('-01')) main = Number(total);
    else others += Number(total);
  }
  return main === undefined ? undefined : { main, others };
}

async function countOne(build: ServerBuild): Promise<Counted> {
  const dir = mkdtempSync(join(tmpdir(), 'cycle-instructions-'));
  const prefix = join(dir, 'vgdb');
  // callgrind_control finds the server by names built from USER and HOST (the server's HOST is its
  // listen address): it gets the server's environment.
  const env = { ...process.env, ...ourServerEnv(), LOG_LEVEL: 'warn' };
  const server = await startServer({
    command: 'valgrind',
    args: ['--tool=callgrind', '--separate-threads=yes', `--vgdb-prefix=${prefix}`, `--callgrind-out-file=${join(dir, 'out')}`, process.execPath, ...NODE_FLAGS, ...build.nodeArgs, build.entry],
    env,
    // Its log is at warn: ready once it accepts connections. Valgrind slows the start ~50×.
    waitForPort: true,
    timeoutMs: 120_000,
  });
  const control = (...more: string[]) => execFileSync('callgrind_control', [`--vgdb-prefix=${prefix}`, ...more, String(server.pid)], { env, stdio: 'ignore' });
  let sockets: WebSocket[] = [];
  try {
    const pairs = await connectPairs(server.port);
    sockets = pairs.sockets;
    await cycles(pairs.senders, WARM, 'warm');
    control('--zero');
    await cycles(pairs.senders, CYCLES, 'measured');
    control('--dump=measured');
    // One file per thread, written once the server next runs; the main thread's ends in -01.
    for (let i = 0; i < 100; i++) {
      const counted = readDump(dir);
      if (counted) return { main: counted.main / CYCLES, others: counted.others / CYCLES };
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`no main-thread dump in ${dir}: ${readdirSync(dir).join(', ')}`);
  } catch (error) {
    throw new Error(`${build.label}: ${(error as Error).message}\n${server.tail().slice(-20).join('\n')}`);
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.stop(0);
    if (args.keep) process.stderr.write(`cycle-instructions: ${build.label}: dumps kept in ${dir} (callgrind_annotate ${dir}/out.1-01)\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const builds = [prepareOurServer()];
if (args.ref) builds.push(prepareOurServer({ ref: args.ref }));
const rows = new Map<string, Counted[]>(builds.map((b) => [b.label, []]));
for (let round = 0; round < Number(args.rounds); round++) {
  for (const build of builds) {
    const counted = await countOne(build);
    rows.get(build.label)!.push(counted);
    process.stderr.write(`cycle-instructions: ${build.label} round ${round + 1}: ${Math.round(counted.main)} main, ${Math.round(counted.others)} other threads\n`);
  }
}
const k = (n: number) => `${(n / 1000).toFixed(1)} k`;
console.log(`| build | main thread, instructions per chat cycle, by round | other threads, by round |\n| --- | --- | --- |`);
for (const [label, counted] of rows) console.log(`| ${label} | ${counted.map((c) => k(c.main)).join(' / ')} | ${counted.map((c) => k(c.others)).join(' / ')} |`);
console.log(`\n${PAIRS} pairs, ${WARM} warm-up cycles, ${CYCLES} measured; memory store; valgrind callgrind, user space only.`);
