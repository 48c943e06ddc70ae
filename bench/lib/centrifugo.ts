// Centrifugo as an optional peer (issue 16): the Go real-time server most teams would pick instead.
// Built once from the Go module proxy into the same cache as FerretDB (scripts/mongo-test-server.sh),
// configured closest to our promise, started like any other bench server.
//
//   node --import tsx bench/lib/centrifugo.ts build     build (first time ~10 min on 2 cores) and print the path
//   node --import tsx bench/lib/centrifugo.ts config    print the configuration the benchmarks use
//   node --import tsx bench/lib/centrifugo.ts start     start one on a free port, print it, run until Ctrl-C
//
// Configuration, and how it maps to ours:
// - every user is subscribed server-side to a personal channel `personal:#<user>` on connect
//   (client.subscribe_to_user_personal_channel): the recipient's "inbox";
// - that namespace keeps history (1000 per channel, 5 min) with force_recovery on, so a reconnecting
//   client gets what it missed, as our replay does (memory engine: lost on restart, unlike our store);
// - allow_publish_for_client: a client publishes straight into the recipient's personal channel (our
//   `send`); Centrifugo answers the publish (our SENT ack) and pushes it to the recipient (our
//   `message`). There is no store and no confirmation (our `delivered`/DELIVERED).
// - JWT HS256 with the benchmark's secret, the user in `sub`, as ours.
// Environment: CENTRIFUGO_CACHE_DIR (default ~/.cache/uws-chat-backend), BENCH_SERVER_LOG=1.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { signTestToken } from './jwt.js';
import { BENCH_JWT_SECRET, repoDir } from './servers.js';
import { freePort, startServer, type RunningServer } from './spawn.js';

export const CENTRIFUGO_MODULE = 'github.com/centrifugal/centrifugo/v6';
export const CENTRIFUGO_VERSION = 'v6.9.1';
const cacheDir = process.env.CENTRIFUGO_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'uws-chat-backend');
export const centrifugoBin = join(cacheDir, `centrifugo-${CENTRIFUGO_VERSION.slice(1)}`);

/** The cached binary, built with `go install module@version` the first time (minutes). */
export function ensureCentrifugo(log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): string {
  if (existsSync(centrifugoBin)) return centrifugoBin;
  mkdirSync(cacheDir, { recursive: true });
  const gobin = mkdtempSync(join(cacheDir, 'centrifugo-build-'));
  log(`centrifugo: building ${CENTRIFUGO_MODULE}@${CENTRIFUGO_VERSION} with Go (first time only, ~10 min on 2 cores) …`);
  const t0 = Date.now();
  try {
    execFileSync('go', ['install', '-trimpath', `${CENTRIFUGO_MODULE}@${CENTRIFUGO_VERSION}`], {
      env: { ...process.env, GOBIN: gobin, GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'local' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    renameSync(join(gobin, 'centrifugo'), centrifugoBin);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  log(`centrifugo: built ${centrifugoBin} in ${Math.round((Date.now() - t0) / 1000)} s`);
  return centrifugoBin;
}

export function centrifugoConfig(port: number): Record<string, unknown> {
  return {
    http_server: { address: '127.0.0.1', port },
    log: { level: 'error' },
    engine: { type: 'memory' },
    client: {
      token: { hmac_secret_key: BENCH_JWT_SECRET },
      allowed_origins: ['*'],
      subscribe_to_user_personal_channel: { enabled: true, personal_channel_namespace: 'personal' },
      // The benchmark's senders keep up to W publishes in flight; the default queue is ample.
    },
    channel: {
      namespaces: [
        {
          name: 'personal',
          history_size: 1000,
          history_ttl: '300s',
          force_recovery: true,
          allow_publish_for_client: true,
        },
      ],
    },
  };
}

/** Its connection token: HS256 with the benchmark secret, `sub` = user (what ours gets too). */
export function centrifugoToken(userId: string): Promise<string> {
  return signTestToken(userId, BENCH_JWT_SECRET);
}

export async function startCentrifugo(o: { nofile?: number } = {}): Promise<RunningServer> {
  const bin = ensureCentrifugo();
  const port = await freePort();
  const dir = join(repoDir, 'bench', '.tmp');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, `centrifugo-${port}.json`);
  writeFileSync(config, JSON.stringify(centrifugoConfig(port), null, 2));
  return startServer({
    command: bin,
    args: ['--config', config],
    port,
    waitForPort: true,
    timeoutMs: 30_000,
    // GOMAXPROCS stays at its default (2 here): it uses both cores if it can, as ours' native threads may.
    env: {},
    onLine: process.env.BENCH_SERVER_LOG === '1' ? (line) => process.stderr.write(`  [centrifugo] ${line}\n`) : undefined,
    nofile: o.nofile,
  });
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('centrifugo.ts') || entry.endsWith('centrifugo.js')) {
  const cmd = process.argv[2];
  if (cmd === 'build') console.log(ensureCentrifugo());
  else if (cmd === 'config') console.log(JSON.stringify(centrifugoConfig(8000), null, 2));
  else if (cmd === 'start') {
    const s = await startCentrifugo();
    console.log(`centrifugo pid ${s.pid} on ws://127.0.0.1:${s.port}/connection/websocket`);
    await new Promise(() => {});
  } else {
    console.error('usage: centrifugo.ts build|config|start');
    process.exit(2);
  }
}
