// The MongoClient with every wait bounded by DB_OP_TIMEOUT_MS, and the startup loop: an unreachable
// Mongo at start is retried with backoff (logged each time) instead of exiting or serving unready.
// After the first connection the driver's monitoring reconnects by itself; operations meanwhile fail
// within the timeout and the chat layer answers `unavailable`.
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { exponentialCeiling } from '../../backoff.js';
import type { Logger } from '../../log.js';

const HEARTBEAT_FREQUENCY_MS = 2000;

/** Connecting, and a polled heartbeat, wait at most this long. */
function connectTimeoutMs(opTimeoutMs: number): number {
  return Math.min(opTimeoutMs, 10_000);
}

export function clientOptions(opTimeoutMs: number): MongoClientOptions {
  return {
    appName: 'uws-chat',
    // No operation waits longer than the op timeout for a server, a socket read or a pooled connection.
    serverSelectionTimeoutMS: opTimeoutMs,
    connectTimeoutMS: connectTimeoutMs(opTimeoutMs),
    socketTimeoutMS: opTimeoutMs,
    waitQueueTimeoutMS: opTimeoutMs,
    // Notice a server that came back within a second or two.
    heartbeatFrequencyMS: HEARTBEAT_FREQUENCY_MS,
  };
}

/** The longest one heartbeat of such a client can last: the driver bounds it by these two. */
export function heartbeatBoundMs(opTimeoutMs: number): number {
  return connectTimeoutMs(opTimeoutMs) + HEARTBEAT_FREQUENCY_MS;
}

export interface StartRetry {
  /** Attempts before start() rejects; Infinity (production) waits for Mongo as long as it takes. */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_START_RETRY: StartRetry = { attempts: Infinity, initialDelayMs: 250, maxDelayMs: 10_000 };

/** Where a URI points, without credentials or options: safe to log. */
export function describeUri(uri: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?([^/?]*)(\/[^?]*)?/.exec(uri);
  return match ? `${match[1]}${match[2]}${match[3] ?? ''}` : 'mongodb://(unparsable uri)';
}

/**
 * Connects and runs `prepare` (ping, indexes), retrying both with exponential backoff. Rejects after
 * `retry.attempts` failures, or at once when `cancelled()` turns true (the store was closed meanwhile).
 */
export async function connectWithRetry(
  uri: string,
  options: MongoClientOptions,
  prepare: (client: MongoClient) => Promise<void>,
  retry: StartRetry,
  log: Logger,
  cancelled: () => boolean,
): Promise<MongoClient> {
  const target = describeUri(uri);
  for (let attempt = 1; ; attempt++) {
    try {
      const client = await connectOnce(uri, options, prepare);
      if (attempt > 1) log.info({ target, attempt }, 'MongoDB reachable again; store started');
      return client;
    } catch (error) {
      const err = { name: (error as Error).name, message: (error as Error).message };
      if (cancelled()) throw new Error('store closed while connecting to MongoDB', { cause: error });
      if (attempt >= retry.attempts) {
        log.error({ target, attempt, err }, 'MongoDB unreachable; giving up');
        throw error;
      }
      const delay = exponentialCeiling(retry.initialDelayMs, retry.maxDelayMs, attempt - 1);
      log.warn({ target, attempt, retryInMs: delay, err, ...likelyCause(error) }, 'MongoDB unreachable at startup; not ready, retrying');
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (cancelled()) throw new Error('store closed while connecting to MongoDB', { cause: error });
    }
  }
}

/**
 * What an operator should look at, when the error says: a refused login or an unknown host is a
 * mistake in DB_URI, not an outage, though both are retried (the password may be rotated in, the DNS
 * record created). Without it the log said "unreachable" for a wrong password (an operator probe).
 */
export function likelyCause(error: unknown): { cause?: string } {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 18 || /authentication|auth failed|not authorized|SCRAM/i.test(message)) return { cause: 'the login was refused: check the user, password and authSource in DB_URI' };
  if (/ENOTFOUND|EAI_AGAIN|querySrv/i.test(message)) return { cause: 'the host name in DB_URI was not found (DNS)' };
  return {};
}

/** One attempt: a connected client on which `prepare` succeeded, or the error (the client closed). */
export async function connectOnce(uri: string, options: MongoClientOptions, prepare: (client: MongoClient) => Promise<void>): Promise<MongoClient> {
  const client = new MongoClient(uri, options);
  try {
    await client.connect();
    await prepare(client);
    return client;
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
}
