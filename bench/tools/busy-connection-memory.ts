// Memory a connection keeps for the messages it was sent and confirmed (issue 16): the idle figure of
// bench/connections.ts is of connections that never got a message. Starts our server with the
// inspector (memory store); C recipients each get M messages from their own sender and confirm each
// one by id as it arrives (a typical client); then, after a forced full GC, the V8 heap with the
// recipients connected against the heap once they closed (the store's messages stay: they are not the
// connection's). The same for C recipients that got nothing: the difference is what M messages leave
// on a connection.
//
//   node --import tsx bench/tools/busy-connection-memory.ts [--connections 50] [--messages 5000] [--ref <git-ref>] [--source]

import { Args } from '../lib/cli.js';
import { signTestToken } from '../lib/jwt.js';
import { field } from '../lib/lean-load.js';
import { sendFrame } from '../lib/load-window.js';
import { openRawWs, type RawWs } from '../lib/raw-ws.js';
import { BENCH_JWT_SECRET, prepareOurServer } from '../lib/servers.js';
import { startOurServerInspected, type Inspector } from '../lib/inspector.js';

const args = new Args(process.argv.slice(2));
const C = args.num('connections', 50);
const M = args.num('messages', 5000);
/** Sends in flight per sender: each waits for its DELIVERED acks before the next window. */
const WINDOW = 64;
const log = (m: string) => process.stderr.write(`[busy-memory ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function open(port: number, userId: string, onText?: (text: string) => void): Promise<RawWs> {
  const token = await signTestToken(userId, BENCH_JWT_SECRET);
  return openRawWs({ host: '127.0.0.1', port, path: '/ws', token, timeoutMs: 30_000, onText: onText && ((payload) => onText(payload.toString('utf8'))) }, () => {});
}

/** One sender → one recipient: M messages, each confirmed by the recipient as it arrives. */
async function pair(port: number, tag: string, i: number): Promise<RawWs> {
  const recipientId = `${tag}-r${i}`;
  let recipient: RawWs | undefined;
  recipient = await open(port, recipientId, (text) => {
    const id = text.startsWith('{"type":"message"') ? field(text, '"messageId":"') : undefined;
    if (id) recipient!.send(`{"type":"delivered","messageIds":["${id}"]}`);
  });
  let delivered = 0;
  let wake: (() => void) | undefined;
  const sender = await open(port, `${tag}-s${i}`, (text) => {
    if (text.includes('"status":"DELIVERED"')) {
      delivered++;
      wake?.();
    }
  });
  for (let sent = 0; sent < M; ) {
    const upTo = Math.min(M, sent + WINDOW);
    for (; sent < upTo; sent++) sender.send(sendFrame(`${tag}-${i}-${sent}`, recipientId, 'a busy connection keeps what, per message?'));
    while (delivered < upTo) await new Promise<void>((resolve) => (wake = resolve));
  }
  await sender.close(5000);
  return recipient;
}

async function heapAfterGc(inspector: Inspector): Promise<number> {
  await inspector.gc();
  return (await inspector.memory()).heapUsed;
}

const build = prepareOurServer({ ref: args.str('ref'), fromSource: args.has('source') });
const { server, inspector } = await startOurServerInspected(build);
try {
  const tag = `busy-${Math.random().toString(36).slice(2, 8)}`;
  // Warm-up: code paths compiled, caches sized, before anything is read.
  for (const c of await Promise.all(Array.from({ length: 4 }, (_, i) => pair(server.port, `${tag}-w`, i)))) await c.close(5000);

  const idle = await Promise.all(Array.from({ length: C }, (_, i) => open(server.port, `${tag}-idle${i}`)));
  const idleOpen = await heapAfterGc(inspector);
  for (const c of idle) await c.close(5000);
  const idleClosed = await heapAfterGc(inspector);

  const started = performance.now();
  const busy = await Promise.all(Array.from({ length: C }, (_, i) => pair(server.port, tag, i)));
  log(`${C * M} messages sent and confirmed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const busyOpen = await heapAfterGc(inspector);
  for (const c of busy) await c.close(5000);
  const busyClosed = await heapAfterGc(inspector);

  const kb = (bytes: number) => (bytes / C / 1024).toFixed(2);
  console.log(`# Memory per connection after M messages confirmed by id, C=${C}, M=${M} (${build.describe}, memory store, forced GC before every reading)\n`);
  console.log('| connections | V8 heap held while open, KB per connection |');
  console.log('| --- | ---: |');
  console.log(`| idle (no message) | ${kb(idleOpen - idleClosed)} |`);
  console.log(`| busy (${M} messages, each confirmed) | ${kb(busyOpen - busyClosed)} |`);
} finally {
  inspector.close();
  await server.stop();
}
