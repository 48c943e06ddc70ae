// Reading documents by a set of _ids. On MongoDB one `{_id: {$in: ids}}` query is an index scan and
// one round trip. FerretDB v1 does not push `$in` down to PostgreSQL: it reads the whole collection,
// so a persist batch's duplicate check got slower with every message stored, until a CI-sized backlog
// (20,000 messages) could no longer be written in time. There, one `_id` equality per id (pushed down,
// an index lookup) runs in parallel instead. The server is asked once, at start (buildInfo).
import type { Collection, Db, Document, Filter } from 'mongodb';

export type IdLookup = 'in' | 'each';

/** Parallel equality lookups at a time (the driver's pool bounds it too). */
const EACH_CONCURRENCY = 16;
/**
 * Above this many ids one full scan is cheaper than that many lookups even on FerretDB (a frame
 * confirming 1000 ids measured slower as lookups than as one scan of a CI-sized collection).
 */
const EACH_MAX_IDS = 128;

export async function idLookupFor(db: Db): Promise<IdLookup> {
  const info = await db.admin().command({ buildInfo: 1 }).catch(() => ({}));
  return JSON.stringify(info).toLowerCase().includes('ferretdb') ? 'each' : 'in';
}

export async function findByIds<T extends Document & { _id: string }>(
  collection: Collection<T>,
  lookup: IdLookup,
  ids: readonly string[],
  projection: Document,
): Promise<T[]> {
  if (ids.length === 0) return [];
  if (lookup === 'in' || ids.length === 1 || ids.length > EACH_MAX_IDS) {
    return (await collection.find({ _id: { $in: [...ids] } } as Filter<T>, { projection }).toArray()) as T[];
  }
  const found: T[] = [];
  const queue = [...new Set(ids)];
  const worker = async () => {
    for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
      const doc = await collection.findOne({ _id: id } as Filter<T>, { projection });
      if (doc) found.push(doc as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(EACH_CONCURRENCY, queue.length) }, worker));
  return found;
}
