// Checks for a server-side early close: a burst of fresh authenticated connections, where a few used
// to be upgraded (101) and then closed by uWS without a close frame (1006) before `ready`, with no JS
// code calling end(): 1–3 of the first ~20 of 128 under --cpu-prof. Cause (fixed): upgrades completed
// asynchronously inside res.cork, mishandled by this uWS build (docs/reliability.md, "What the proofs
// broke", item 5). `--ref <commit before c095b07>` shows it again.
//
//   node --import tsx bench/tools/early-close.ts [--profile] [--connections 128] [--rounds 3] [--ref <git-ref>] [--floor]
//
// Exit code 1 when any connection was closed early, so it can check a fix.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Args } from '../lib/cli.js';
import { signTestToken } from '../lib/jwt.js';
import { scrapeMetrics } from '../lib/metrics-scrape.js';
import { openRawWs, type RawWs } from '../lib/raw-ws.js';
import { BENCH_JWT_SECRET, prepareOurServer, startBaseline, startOurServer } from '../lib/servers.js';

const args = new Args(process.argv.slice(2));
const n = args.num('connections', 128);
const rounds = args.num('rounds', 3);
/** --floor: the same against the bare-uWS chat floor (bench/baselines/uws-chat-memory.ts). */
const baseline = args.has('floor');
const build = prepareOurServer({ ref: args.str('ref') });
let early = 0;
for (let round = 1; round <= rounds; round++) {
  // A fresh server each round: the early connections of a cold process are the ones that fail.
  const cpuProfDir = args.has('profile') ? mkdtempSync(join(tmpdir(), 'early-close-')) : undefined;
  const server = baseline ? await startBaseline('uws-chat-memory', { cpuProfDir }) : await startOurServer(build, { cpuProfDir });
  try {
    const tokens = await Promise.all(Array.from({ length: n }, (_, i) => signTestToken(`early-${round}-${i}`, BENCH_JWT_SECRET)));
    const failures: string[] = [];
    const closedAfterReady: string[] = [];
    const conns: RawWs[] = [];
    await Promise.all(
      tokens.map(async (token, i) => {
        try {
          conns.push(await openRawWs({ host: '127.0.0.1', port: server.port, path: '/ws', token, timeoutMs: 30_000 }, (code) => closedAfterReady.push(`#${i} (${code ?? 'no close frame'})`)));
        } catch (e) {
          failures.push(`#${i}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 1000)); // idle connections must stay open
    const m = baseline ? new Map<string, number>() : await scrapeMetrics(server.port);
    const closes = [...m].filter(([k]) => k.startsWith('chat_ws_closes_total')).map(([k, v]) => `${k.slice('chat_ws_closes_total'.length)}=${v}`);
    console.log(
      `round ${round}: ${conns.length}/${n} ready; closed before ready: ${failures.join(', ') || 'none'}; ` +
        `closed by the server after ready: ${closedAfterReady.join(', ') || 'none'}${baseline ? '' : `; server's close metric: ${closes.join(' ') || 'none'}`}`,
    );
    early += failures.length + closedAfterReady.length;
    await Promise.all(conns.map((c) => c.close(2000)));
  } finally {
    await server.stop(10_000);
  }
}
process.exit(early > 0 ? 1 : 0);
