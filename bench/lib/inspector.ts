// A minimal client of the V8 inspector of a server under test: forced full GCs, process.memoryUsage()
// and heap snapshots, for memory figures that do not race the collector (bench/connections.ts,
// bench/tools/closed-retention.ts).
import WebSocket from 'ws';
import { startOurServer, type ServerBuild } from './servers.js';
import { freePort, type RunningServer } from './spawn.js';

export class Inspector {
  private id = 0;
  private readonly waiting = new Map<number, (r: unknown) => void>();
  private chunks: string[] = [];
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { id?: number; result?: unknown; error?: unknown; method?: string; params?: { chunk: string } };
      if (m.method === 'HeapProfiler.addHeapSnapshotChunk') this.chunks.push(m.params!.chunk);
      else if (m.id !== undefined) this.waiting.get(m.id)?.(m.error ? Promise.reject(new Error(JSON.stringify(m.error))) : m.result);
    });
  }
  static async connect(port: number): Promise<Inspector> {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    const ws = new WebSocket(list[0]!.webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
    return new Inspector(ws);
  }
  call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.id;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise<T>((r) => this.waiting.set(id, r as (v: unknown) => void));
  }
  async gc(): Promise<void> {
    // Twice: the first pass may only free what makes the second one able to free more (weak maps, finalizers).
    await this.call('HeapProfiler.collectGarbage');
    await new Promise((r) => setTimeout(r, 200));
    await this.call('HeapProfiler.collectGarbage');
  }
  async memory(): Promise<NodeJS.MemoryUsage> {
    const r = await this.call<{ result: { value: NodeJS.MemoryUsage } }>('Runtime.evaluate', { expression: 'process.memoryUsage()', returnByValue: true });
    return r.result.value;
  }
  async snapshot(): Promise<string> {
    this.chunks = [];
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const s = this.chunks.join('');
    this.chunks = [];
    return s;
  }
  close(): void {
    this.ws.close();
  }
}

/** Ours, started with the inspector on a free loopback port, and a client of it. */
export async function startOurServerInspected(build: ServerBuild, options: Parameters<typeof startOurServer>[1] = {}): Promise<{ server: RunningServer; inspector: Inspector }> {
  const inspectPort = await freePort();
  const server = await startOurServer({ ...build, nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`, ...build.nodeArgs] }, options);
  return { server, inspector: await Inspector.connect(inspectPort) };
}
