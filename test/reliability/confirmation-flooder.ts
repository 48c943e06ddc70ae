// A hostile client in its own process (so its CPU is not the test's): it confirms 1000 random ids per
// frame (made in advance) as fast as its socket takes them, and when the server closes it, connects
// again 100 ms later.
// Prints one JSON line of what it did on SIGTERM.
//   node --import tsx test/reliability/confirmation-flooder.ts <ws url> <token>
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2) as [string, string];
const stats = { connects: 0, refusedUpgrades: 0, frames: 0, rateLimited: 0, unavailable: 0, closes: {} as Record<number, number>, connectedAt: [] as number[] };
const IDS_PER_FRAME = 1000;
const makeFrame = () => {
  const bytes = randomBytes(12 * IDS_PER_FRAME);
  return JSON.stringify({ type: 'delivered', messageIds: Array.from({ length: IDS_PER_FRAME }, (_, i) => bytes.subarray(12 * i, 12 * i + 12).toString('base64url')) });
};
// Made before connecting: an attacker's frame-making runs on its own machine, but here it would share
// the 2 cores with the server and FerretDB, and it was most of what the pair's p99 measured (per
// frame, 1000 randomBytes calls and a 17 KB JSON.stringify). 1000 frames outlast a phase of the test;
// and the server keeps nothing of an unknown id past its connection, so a frame sent again costs it the same.
const pool = Array.from({ length: 1000 }, makeFrame);
let next = 0;
const frame = () => pool[next++ % pool.length]!;
// FLOODER_IDLE=1: connect and reconnect as usual but send nothing, a control run for the figure's noise.
const idle = process.env.FLOODER_IDLE === '1';

function connect(): void {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  let retried = false;
  const retry = () => {
    if (retried) return;
    retried = true;
    setTimeout(connect, 100);
  };
  ws.on('unexpected-response', (_req, res) => {
    stats.refusedUpgrades++;
    res.resume();
    retry();
  });
  ws.on('error', retry);
  ws.on('open', () => {
    stats.connects++;
    stats.connectedAt.push(Date.now());
    if (stats.connects === 1) console.log('flooding');
    // Full speed: keep the socket's buffer topped up, checked on every turn of the event loop.
    const pump = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      // At most 20 frames a turn: a socket whose writes complete synchronously never fills its buffer.
      for (let i = 0; i < 20 && ws.bufferedAmount < 1 << 20; i++) {
        ws.send(frame());
        stats.frames++;
      }
      // Full buffer: look again in a millisecond rather than spin (an attacker's spinning costs its own
      // machine, but here it would take a core the server and FerretDB share).
      if (ws.bufferedAmount >= 1 << 20) setTimeout(pump, 1);
      else setImmediate(pump);
    };
    if (!idle) pump();
  });
  ws.on('message', (data) => {
    const code = (JSON.parse(data.toString()) as { code?: string }).code;
    if (code === 'rate_limited') stats.rateLimited++;
    if (code === 'unavailable') stats.unavailable++;
  });
  ws.on('close', (code) => {
    stats.closes[code] = (stats.closes[code] ?? 0) + 1;
    retry();
  });
}

process.on('SIGTERM', () => {
  console.log(JSON.stringify(stats));
  process.exit(0);
});
connect();
