// Scale-out cost (issue 15): one, two and three instances, each pinned to a core where possible
// (taskset), the load going to the instances directly (no NGINX). Every sender is on instance i and
// its recipient on instance i+1 (mod N), so with N > 1 every message crosses the bus. Reports, per
// configuration: server CPU µs per message (all instances summed, from /proc), bus messages per chat
// message (chat_bus_events_total out and in, from /metrics), the NATS server's CPU per message, and
// store writes per message on Mongo (chat_store_batch_size count = batches written).
//
//   node --import tsx bench/cluster.ts                      # mem store, 1 no bus / 1 / 2 / 3 with bus
//   node --import tsx bench/cluster.ts --db mongodb://127.0.0.1:27017/ --rate 400 --seconds 10
//   options: --pairs 60 --rate 3000 (msgs/s in total, paced) --seconds 10 --warmup 3 --confirm (recipients
//   confirm each message: the delivered → DELIVERED path, and its bus event, are included)
//
// The machine has 2 cores: totals do not scale here; the per-message figures are what transfer.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { signTestToken } from './lib/jwt.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { scrapeMetrics } from './lib/metrics-scrape.js';
import { readProcCpu } from './lib/proc-cpu.js';
import { BENCH_JWT_SECRET, prepareOurServer, repoDir, startOurServer } from './lib/servers.js';
import { freePort, type RunningServer } from './lib/spawn.js';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '60' },
    rate: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    db: { type: 'string', default: 'mem' },
    nats: { type: 'string' },
    confirm: { type: 'boolean', default: false },
    configs: { type: 'string', default: '1:off,1:on,2:on,3:on' },
  },
});
const PAIRS = Number(args.pairs);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);

function natsBinary(): string {
  return args.nats ?? execFileSync('bash', [`${repoDir}/scripts/nats-server.sh`, 'path'], { encoding: 'utf8' }).trim();
}

function pin(pid: number, core: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Client {
  ws: WebSocket;
  received: number;
}

async function open(port: number, userId: string, onMessage?: (frame: Record<string, unknown>, ws: WebSocket) => void): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${await signTestToken(userId, BENCH_JWT_SECRET)}` } });
  const client: Client = { ws, received: 0 };
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (frame.type === 'ready') resolve();
      else if (frame.type === 'message') {
        client.received++;
        onMessage?.(frame, ws);
      }
    });
    ws.once('error', reject);
  });
  return client;
}

const metricSum = (m: Map<string, number>, prefix: string) => [...m].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);

const build = prepareOurServer(); // compiled once for every configuration

async function runConfig(instances: number, bus: boolean): Promise<Record<string, string | number>> {
  const natsPort = await freePort();
  const nats = bus ? spawn(natsBinary(), ['-a', '127.0.0.1', '-p', String(natsPort)], { stdio: 'ignore' }) : undefined;
  if (nats) await new Promise((resolve) => setTimeout(resolve, 300));
  const dbUri = args.db === 'mem' ? 'mem' : `${args.db.replace(/\/$/, '')}/bench_cluster_${randomUUID().slice(0, 8)}`;
  const servers: RunningServer[] = [];
  for (let i = 0; i < instances; i++) servers.push(await startOurServer(build, { dbUri, env: bus ? { BUS_URI: `nats://127.0.0.1:${natsPort}` } : {} }));
  const pinned = servers.map((s, i) => pin(s.pid, i % 2)).every(Boolean);
  const tag = randomUUID().slice(0, 6);
  const clients: Client[] = [];
  const senders: WebSocket[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const confirm = args.confirm ? (frame: Record<string, unknown>, ws: WebSocket) => ws.send(JSON.stringify({ type: 'delivered', messageIds: [frame.messageId] })) : undefined;
    clients.push(await open(servers[(i + 1) % instances]!.port, `c${tag}-r${i}`, confirm));
    senders.push((await open(servers[i % instances]!.port, `c${tag}-s${i}`)).ws);
  }
  let sent = 0;
  const pace = (ms: number) =>
    new Promise<void>((resolve) => {
      const start = Date.now();
      const timer = setInterval(() => {
        const due = Math.floor(((Date.now() - start) / 1000) * RATE);
        while (sent < due + 0 && Date.now() - start < ms) {
          const i = sent % PAIRS;
          senders[i]!.send(JSON.stringify({ type: 'send', messageId: `${tag}-${sent}`, to: `c${tag}-r${i}`, body: 'x'.repeat(100) }));
          sent++;
        }
        if (Date.now() - start >= ms) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
  // The instances' CPU at rest (driver heartbeats, metrics, timers), to report the per-message cost net of it.
  const idle0 = servers.map((s) => readProcCpu(s.pid).totalUs);
  const idleStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const idleUsPerMs = servers.reduce((a, s, i) => a + readProcCpu(s.pid).totalUs - idle0[i]!, 0) / (performance.now() - idleStart);
  await pace(WARMUP * 1000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const received0 = clients.reduce((a, c) => a + c.received, 0);
  const cpu0 = servers.map((s) => readProcCpu(s.pid).totalUs);
  const window0 = performance.now();
  const nats0 = nats?.pid ? readProcCpu(nats.pid).totalUs : 0;
  const m0 = await Promise.all(servers.map((s) => scrapeMetrics(s.port)));
  const sentBefore = sent;
  await pace(SECONDS * 1000);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // deliveries in flight
  const messages = sent - sentBefore;
  const received = clients.reduce((a, c) => a + c.received, 0) - received0;
  const cpuUs = servers.reduce((a, s, i) => a + readProcCpu(s.pid).totalUs - cpu0[i]!, 0);
  const idleUs = idleUsPerMs * (performance.now() - window0);
  const natsUs = nats?.pid ? readProcCpu(nats.pid).totalUs - nats0 : 0;
  const m1 = await Promise.all(servers.map((s) => scrapeMetrics(s.port)));
  const delta = (prefix: string) => m1.reduce((a, m, i) => a + metricSum(m, prefix) - metricSum(m0[i]!, prefix), 0);
  const busOut = delta('chat_bus_events_total{direction="out"}');
  const busIn = delta('chat_bus_events_total{direction="in"}');
  const batches = delta('chat_store_batch_size_count');
  for (const ws of [...senders, ...clients.map((c) => c.ws)]) ws.terminate();
  await Promise.all(servers.map((s) => s.stop()));
  nats?.kill('SIGTERM');
  return {
    instances,
    bus: bus ? 'on' : 'off',
    store: args.db === 'mem' ? 'mem' : 'mongo',
    pinned: pinned ? 'yes' : 'no',
    messages,
    'received/sent': (received / messages).toFixed(3),
    'server CPU µs/msg': (cpuUs / messages).toFixed(1),
    'net of idle µs/msg': ((cpuUs - idleUs) / messages).toFixed(1),
    'bus out/msg': (busOut / messages).toFixed(2),
    'bus in/msg': (busIn / messages).toFixed(2),
    'NATS CPU µs/msg': bus ? (natsUs / messages).toFixed(1) : '—',
    'store batches/msg': args.db === 'mem' ? '—' : (batches / messages).toFixed(3),
  };
}

const rows: Record<string, string | number>[] = [];
for (const config of args.configs.split(',')) {
  const [n, bus] = config.split(':');
  process.stderr.write(`bench/cluster: ${n} instance(s), bus ${bus}...\n`);
  rows.push(await runConfig(Number(n), bus === 'on'));
}
const machine = machineInfo(repoDir);
console.log(`# bench/cluster: ${machineLine(machine)}`);
console.log(`pairs=${PAIRS} rate=${RATE} msgs/s paced, ${SECONDS} s measured after ${WARMUP} s warm-up, 100-byte bodies, confirm=${args.confirm}, load average at end ${(await import('node:os')).loadavg()[0]!.toFixed(1)}\n`);
const keys = Object.keys(rows[0]!);
console.log(`| ${keys.join(' | ')} |\n| ${keys.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${keys.map((k) => row[k]).join(' | ')} |`);
process.exit(0);
