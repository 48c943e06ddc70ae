// Three instances behind a real NGINX, as deploy/ runs them: RestartableServer processes on one
// database, a NATS of the test's own as the live bus, and deploy/nginx/chat.conf with an upstream of
// all three. Clients only know NGINX's URL; the fault tests kill, stop and restart what is behind it.
import { dropDatabases, MongoOutageProxy } from '../helpers/mongo.js';
import { skipReason } from '../helpers/skips.js';
import { findBinary, startNginx, type Nginx } from '../e2e/helpers/nginx.js';
import { account, type Figures } from '../reliability/accounting.js';
import { Load, waitFor, withTimeout, type LoadPlan } from '../reliability/load-client.js';
import { faultMongoUri, freshDbUri, RestartableServer, signTokens } from '../reliability/server-process.js';
import { findNatsServer, OwnNats } from './nats-process.js';

export const INSTANCES = 3;
const NGINX = findBinary('nginx');
const NATS_SERVER = findNatsServer();

/** Why the cluster tests cannot run here, or false. CI (REQUIRE_MONGO, REQUIRE_BUS, CI) turns a skip into a failure. */
export function clusterSkip(): string | false {
  const mongo = faultMongoUri(); // throws under REQUIRE_MONGO=1
  if (mongo.skip) return mongo.skip;
  if (!NATS_SERVER) {
    if (process.env.REQUIRE_BUS === '1') throw new Error('REQUIRE_BUS=1 but no nats-server binary: bash scripts/nats-server.sh build');
    return skipReason('natsServer');
  }
  if (!NGINX) {
    if (process.env.CI) throw new Error('CI=true but nginx is not installed: .ci/run installs it');
    return skipReason('nginx');
  }
  return false;
}

export class Cluster {
  private constructor(
    readonly instances: RestartableServer[],
    readonly nats: OwnNats,
    readonly nginx: Nginx,
    readonly dbName: string,
    readonly dbUri: string,
    private readonly baseUri: string,
    /** With `storeProxy`: the TCP proxy every instance reaches the store through (down() = store outage). */
    readonly storeProxy: MongoOutageProxy | undefined,
  ) {}

  /**
   * Starts NATS, three instances on a fresh database (env added to each) and NGINX in front. With
   * `storeProxy`, the instances reach the store through a MongoOutageProxy (the accounting does not).
   */
  static async start(prefix: string, env: Record<string, string> = {}, options: { storeProxy?: boolean } = {}): Promise<Cluster> {
    const baseUri = faultMongoUri().uri!;
    const { dbName, dbUri } = freshDbUri(baseUri, prefix);
    const storeProxy = options.storeProxy ? await MongoOutageProxy.start(baseUri) : undefined;
    const instanceDbUri = storeProxy ? storeProxy.uri(dbName) : dbUri;
    const nats = await OwnNats.start(NATS_SERVER!);
    const instances = await Promise.all(Array.from({ length: INSTANCES }, () => RestartableServer.create(instanceDbUri, { BUS_URI: nats.uri, TRUST_PROXY: 'true', ...env })));
    await Promise.all(instances.map((instance) => instance.start()));
    const nginx = await startNginx(NGINX!, { upstreamPort: instances.map((instance) => instance.port), wsPath: '/ws' });
    return new Cluster(instances, nats, nginx, dbName, dbUri, baseUri, storeProxy);
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.nginx.port}/ws`;
  }

  /** A load whose every client connects through NGINX. */
  async load(plan: LoadPlan): Promise<Load> {
    const users = [...Array.from({ length: plan.senders }, (_, i) => `sndr${i}`), ...Array.from({ length: plan.recipients }, (_, i) => `rcpt${i}`)];
    const tokens = await signTokens(users);
    return new Load(() => this.wsUrl, (userId) => tokens.get(userId)!, plan);
  }

  /** Every instance's open WebSocket connections (from its /metrics). */
  async connectionsPerInstance(): Promise<number[]> {
    return Promise.all(this.instances.map((instance) => metric(instance, /^chat_connections_open (\d+)/m).catch(() => -1)));
  }

  /** chat_bus_events_total{direction} summed over the running instances. */
  async busEvents(direction: 'out' | 'in' | 'dropped'): Promise<number> {
    const values = await Promise.all(this.instances.map((instance) => metric(instance, new RegExp(`^chat_bus_events_total\\{direction="${direction}"\\} (\\d+)`, 'm')).catch(() => 0)));
    return values.reduce((a, b) => a + b, 0);
  }

  /** Stops generating, waits for every SENT ack, then drains every recipient (sync until empty) and accounts. */
  async finish(load: Load): Promise<{ figures: Figures; details: string[] }> {
    await load.finishSending(60_000);
    await load.drainRecipients(60_000);
    return account(load, this.dbUri);
  }

  output(): string {
    return this.instances.map((instance, i) => `=== instance ${i + 1} (port ${instance.port})\n${instance.output()}`).join('\n') + `\n=== nats\n${this.nats.log()}`;
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((instance) => instance.stop('SIGTERM').catch(() => {})));
    await this.nginx.stop().catch(() => {});
    await this.nats.kill().catch(() => {});
    await this.storeProxy?.down().catch(() => {});
    await withTimeout(dropDatabases(this.baseUri, [this.dbName]), 15_000, 'dropping the test database').catch(() => {});
  }
}

async function metric(instance: RestartableServer, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${instance.httpUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

/** Resolves after `ms` (a fault's duration: what the test measures, not a synchronisation). */
export const hold = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export { waitFor };
