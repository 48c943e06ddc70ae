// Two server processes on one MongoDB database and one NATS namespace (no other test file on it), as
// the cluster tests of groups, access and late refusals need: their addresses, and one call to stop
// both (SIGTERM, then the database dropped).
import { TestDatabases } from './mongo.js';
import { natsUri, testBusNamespace } from './nats.js';
import { testEnv } from './server.js';
import { spawnServer, type ServerProcess } from './spawn.js';

export interface TwoInstances {
  readonly servers: readonly ServerProcess[];
  readonly http: { readonly a: string; readonly b: string };
  readonly ws: { readonly a: string; readonly b: string };
  stop(): Promise<void>;
}

/** `env`: besides testEnv's and the database and bus; `preload`: modules each process imports first. */
export async function startTwoInstances(databases: TestDatabases, env: Record<string, string> = {}, preload: readonly string[] = []): Promise<TwoInstances> {
  const dbUri = databases.fresh();
  const namespace = testBusNamespace();
  const servers = [0, 1].map(() => spawnServer(testEnv({ DB_URI: dbUri, BUS_URI: natsUri, BUS_NAMESPACE: namespace, ...env }), { preload }));
  const [a, b] = await Promise.all(servers.map((server) => server.listening)).catch((error: unknown) => {
    for (const server of servers) server.kill('SIGTERM');
    throw error;
  });
  return {
    servers,
    http: { a: `http://127.0.0.1:${a}`, b: `http://127.0.0.1:${b}` },
    ws: { a: `ws://127.0.0.1:${a}/ws`, b: `ws://127.0.0.1:${b}/ws` },
    async stop() {
      for (const server of servers) server.kill('SIGTERM');
      await Promise.all(servers.map((server) => server.exited));
      await databases.drop();
    },
  };
}
