// MongoStore's one MongoClient: connected at start (retrying while MongoDB is unreachable, indexes
// created), watched while it runs, and replaced when the driver's monitor has hung (a driver bug,
// heartbeat-watchdog.ts says which). Everything else reads the client through `db` / `collections`
// on each call, so a replacement takes effect at the next operation.
import type { Db, MongoClient } from 'mongodb';
import { errorSummary, uriForLogs, type Logger } from '../../log.js';
import type { Metrics } from '../../metrics/registry.js';
import { StoreUnavailableError } from '../store.js';
import { clientOptions, connectOnce, connectWithRetry, heartbeatBoundMs, type StartRetry } from './connect.js';
import { collectionsOf, type Collections } from './documents.js';
import { logDriverTransitions } from './driver-events.js';
import { idLookupFor, type IdLookup } from './find-by-ids.js';
import { HeartbeatWatchdog } from './heartbeat-watchdog.js';
import { buildLaterIndexes, ensureIndexes } from './indexes.js';

interface Connected {
  readonly client: MongoClient;
  readonly db: Db;
  readonly collections: Collections;
  readonly watchdog: HeartbeatWatchdog;
}

export class StoreConnection {
  private current: Connected | undefined;
  private closed = false;
  private replacing = false;
  /** Clients replaced because their monitor hung (metrics and tests). */
  replacements = 0;

  constructor(
    private readonly uri: string,
    private readonly dbName: string,
    private readonly opTimeoutMs: number,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
    /** Set: these query shapes whatever the server (tests run MongoDB's on FerretDB); else detected at start. */
    private readonly idLookup?: IdLookup,
  ) {}

  get db(): Db {
    return this.connected().db;
  }

  get collections(): Collections {
    return this.connected().collections;
  }

  async connect(retry: StartRetry): Promise<void> {
    let idLookup: Collections['idLookup'] | undefined;
    this.log.info({ target: uriForLogs(this.uri), db: this.dbName }, 'connecting to MongoDB');
    const client = await connectWithRetry(
      this.uri,
      clientOptions(this.opTimeoutMs),
      async (candidate) => {
        const db = candidate.db(this.dbName);
        await db.command({ ping: 1 });
        const prepared = collectionsOf(db, this.idLookup ?? (await idLookupFor(db)));
        await ensureIndexes(prepared);
        idLookup = prepared.idLookup;
      },
      retry,
      this.log,
      () => this.closed,
    );
    if (this.closed) {
      await client.close();
      throw new StoreUnavailableError('store closed while starting');
    }
    this.current = this.watch(client, idLookup!);
    this.log.info({ db: this.dbName }, 'MongoDB connected; indexes ready');
    void buildLaterIndexes(this.current.collections, this.log, () => this.closed);
  }

  async close(): Promise<void> {
    this.closed = true;
    const current = this.current;
    this.current = undefined;
    current?.watchdog.stop();
    await current?.client.close();
  }

  private connected(): Connected {
    if (this.current) return this.current;
    throw new StoreUnavailableError(this.closed ? 'store is closed' : 'store not connected yet');
  }

  private watch(client: MongoClient, idLookup: Collections['idLookup']): Connected {
    logDriverTransitions(client, this.log);
    const db = client.db(this.dbName);
    const watchdog = new HeartbeatWatchdog(client, {
      heartbeatBoundMs: heartbeatBoundMs(this.opTimeoutMs),
      onHung: (hungForMs) => void this.replace(client, hungForMs),
    });
    return { client, db, collections: collectionsOf(db, idLookup), watchdog };
  }

  /**
   * A new client that answers a ping takes the hung one's place; the hung one is closed, failing
   * what it still holds (answered `unavailable`, retried by clients with the same ids). While the
   * database is still away the new client fails too and the next check tries again.
   */
  private async replace(hung: MongoClient, hungForMs: number): Promise<void> {
    if (this.replacing || this.closed || this.current?.client !== hung) return;
    this.replacing = true;
    try {
      const fresh = await connectOnce(this.uri, clientOptions(this.opTimeoutMs), async (candidate) => {
        await candidate.db(this.dbName).command({ ping: 1 });
      });
      if (this.closed || this.current?.client !== hung) {
        await fresh.close();
        return;
      }
      const old = this.current;
      this.current = this.watch(fresh, old.collections.idLookup);
      this.replacements++;
      this.metrics?.storeClientReplacements.inc();
      this.log.warn({ hungForMs }, 'MongoDB client replaced: its server monitor hung (driver bug), a new client answers');
      old.watchdog.stop();
      void old.client.close().catch((error: unknown) => this.log.warn({ err: errorSummary(error) }, 'closing the replaced MongoDB client failed'));
    } catch (error) {
      this.log.warn({ hungForMs, err: errorSummary(error) }, 'MongoDB client monitor hung and a new client does not answer either; retrying');
    } finally {
      this.replacing = false;
    }
  }
}
