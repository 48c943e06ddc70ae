// HTTP POST load with autocannon, shaped like our send endpoint: Bearer auth,
// JSON {messageId,to,body} with a fresh messageId per request (an idempotent
// server would otherwise answer duplicates from cache) and 50-500 byte bodies.
//
// Why setupRequest rather than autocannon's `[<id>]` replacement: we control
// the id format (UUID-shaped, see bodies.ts) in case the server validates it.
// Runs in this thread (no autocannon workers): functions can't be handed to
// autocannon's workers except as file paths, and our servers saturate first.

import autocannon from 'autocannon';
import { encodeMessageId, idSalt, makeBodyPool, runTag } from './bodies.js';
import { cpuDelta, readMachineCpu, readProcCpu, readProcMem, readProcTreeCpu, selfCpu } from './proc-cpu.js';
import { Histogram, type LatencySummary } from './stats.js';

export interface AutocannonRunOptions {
  /** Full endpoint URL, e.g. http://127.0.0.1:3000/api/messages */
  url: string;
  token?: string;
  /** Concurrent connections (= requests in flight with pipelining 1); default 16. */
  connections?: number;
  pipelining?: number;
  durationSec?: number;
  /** Total requests; overrides durationSec. */
  amount?: number;
  to?: string;
  bodyMin?: number;
  bodyMax?: number;
  serverPid?: number;
  serverTree?: boolean;
}

export interface AutocannonReport {
  durationSec: number;
  /** Completed requests (any status). */
  requests: number;
  /**
   * Requests written (one fresh messageId each). autocannon drops the ones still in flight when it
   * stops, so issued − requests (at most one per connection, plus timeouts) were sent but never
   * answered: a server may have stored them. The store check in http-send.ts allows for that.
   */
  issued: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  reqPerSec: number;
  /** 2xx latency from our own histogram (µs precision; autocannon's is whole ms). */
  latency: LatencySummary;
  statusCodes: Record<string, number>;
  generator: { cpuUs: number; corePct: number };
  /** Whole machine over the run; otherCorePct = busy minus server and generator (noise check). */
  machine: { busyCorePct: number; otherCorePct: number };
  /** systemShare: the kernel's part of the server's CPU (syscalls). */
  server?: { cpuUs: number; cpuUsPerReq: number; systemShare: number; corePct: number; rssBytes: number };
}

export async function runAutocannon(o: AutocannonRunOptions): Promise<AutocannonReport> {
  const tag = runTag();
  const salt = idSalt();
  const bodies = makeBodyPool(o.bodyMin ?? 50, o.bodyMax ?? 500);
  const to = o.to ?? `bench-${tag}-r0`;
  let seq = 0;
  const path = new URL(o.url).pathname;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;

  const hist = new Histogram();
  const readServer = o.serverTree ? readProcTreeCpu : readProcCpu;
  const server0 = o.serverPid !== undefined ? readServer(o.serverPid) : undefined;
  const self0 = selfCpu();
  const machine0 = readMachineCpu().busyUs;
  const t0 = performance.now();

  const instance = autocannon({
    url: o.url,
    connections: o.connections ?? 16,
    pipelining: o.pipelining ?? 1,
    duration: o.durationSec ?? 3,
    amount: o.amount,
    requests: [
      {
        method: 'POST',
        path,
        headers,
        // Called before every request: a new id each time.
        setupRequest: (req) => {
          const n = seq++;
          const id = encodeMessageId(tag, 0, n, salt);
          return { ...req, body: `{"messageId":"${id}","to":"${to}","body":"${bodies[n % bodies.length]}"}` };
        },
      },
    ],
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) hist.recordMs(ms);
  });
  const r = await instance;

  const wallMs = performance.now() - t0;
  const selfUs = cpuDelta(self0, selfCpu()).totalUs;
  const machineUs = readMachineCpu().busyUs - machine0;
  const serverCpu = server0 && o.serverPid !== undefined ? cpuDelta(server0, readServer(o.serverPid)) : undefined;
  const serverUs = serverCpu?.totalUs;
  const requests = r.requests.total;
  const pct = (us: number): number => Math.round((us / 1000 / wallMs) * 1000) / 10;
  const statusCodes: Record<string, number> = {};
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v.count;
  return {
    durationSec: r.duration,
    requests,
    issued: seq,
    ok2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    reqPerSec: Math.round(requests / r.duration),
    latency: hist.summary(),
    statusCodes,
    generator: { cpuUs: Math.round(selfUs), corePct: pct(selfUs) },
    machine: { busyCorePct: pct(machineUs), otherCorePct: pct(Math.max(0, machineUs - selfUs - (serverUs ?? 0))) },
    server:
      serverUs === undefined || o.serverPid === undefined
        ? undefined
        : {
            cpuUs: Math.round(serverUs),
            cpuUsPerReq: requests > 0 ? Math.round((serverUs / requests) * 10) / 10 : 0,
            systemShare: serverUs > 0 ? Math.round((serverCpu!.systemUs / serverUs) * 100) / 100 : 0,
            corePct: pct(serverUs),
            rssBytes: readProcMem(o.serverPid).rssBytes,
          },
  };
}
