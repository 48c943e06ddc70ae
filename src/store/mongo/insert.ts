// insertMany with per-document errors as data. Inserts are the store's only atomic primitive on every
// server (a unique key refuses the second writer), so most writes are inserts and read their errors.
import { MongoBulkWriteError, type Collection, type Document, type OptionalUnlessRequiredId, type WriteError } from 'mongodb';
import { StoreUnavailableError } from '../store.js';
import { DUPLICATE_KEY } from './documents.js';

/**
 * Index → error for the documents not inserted. Ordered: the write stops at the first error, so
 * everything before it is stored and nothing after it. A write concern error or a lost connection
 * throws: nothing in the write is known durable.
 */
export async function insertMany<T extends Document>(
  collection: Collection<T>,
  docs: OptionalUnlessRequiredId<T>[],
  ordered: boolean,
): Promise<Map<number, WriteError>> {
  const errors = new Map<number, WriteError>();
  if (docs.length === 0) return errors;
  try {
    await collection.insertMany(docs, { ordered });
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError) || error.result.getWriteConcernError()) throw error;
    const writeErrors = [error.writeErrors].flat();
    // No per-document error: the driver failed the whole write (a pool checkout timed out, the
    // connection dropped). That is "not stored; retry later", which routes answer 503, not a bug.
    if (writeErrors.length === 0) throw new StoreUnavailableError(`${collection.collectionName} write failed: ${error.message}`, { cause: error });
    for (const writeError of writeErrors) errors.set(writeError.index, writeError);
  }
  return errors;
}

/** Inserts where a duplicate key means "already there" (idempotent creation); other errors throw. */
export async function insertIfAbsent<T extends Document>(collection: Collection<T>, docs: OptionalUnlessRequiredId<T>[]): Promise<Set<number>> {
  const errors = await insertMany(collection, docs, false);
  const inserted = new Set<number>();
  docs.forEach((_, i) => {
    const error = errors.get(i);
    if (!error) inserted.add(i);
    else if (error.code !== DUPLICATE_KEY) throw new StoreUnavailableError(`${collection.collectionName} write failed: ${error.errmsg ?? error.code}`);
  });
  return inserted;
}
