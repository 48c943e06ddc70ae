// Reading documents by a set of _ids. On MongoDB one `{_id: {$in: ids}}` query is an index scan and
// one round trip. FerretDB v1 does not push `$in` down to PostgreSQL: it reads the whole collection,
// so a persist batch's duplicate check got slower with every message stored, until a CI-sized backlog
// (20,000 messages) could no longer be written in time. There, one `_id` equality per id (pushed down,
// an index lookup) runs in parallel instead. The server is asked once, at start (buildInfo).
import type { Collection, Db, Document, Filter } from 'mongodb';
import { mapLimited } from '../../map-limited.js';

export type IdLookup = 'in' | 'each';

/** Parallel equality lookups at a time (the driver's pool bounds it too). */
const EACH_CONCURRENCY = 16;
/**
 * One lookup costs about as much as scanning this many documents on FerretDB: more ids than the
 * collection's size over this, and one scan is cheaper (a frame confirming 1000 unknown ids against a
 * few thousand messages measured slower as lookups; 200 ids against 20,000 messages, faster).
 */
const LOOKUP_COST_IN_SCANNED_DOCS = 50;
/** Collection sizes, re-read at most this often (a count is a whole-collection scan on FerretDB v1). */
const SIZE_TTL_MS = 60_000;
const sizes = new Map<string, { size: number; at: number }>();
const counting = new Set<string>();

/**
 * The collection's size as last counted, never waited for: a stale or missing count is refreshed in
 * the background. Counting 3,000 messages takes ~130 ms on FerretDB (more under load), and a count
 * awaited here stalled the batch it was in, with every other user's confirmations behind it (the
 * confirmation-flood test: a flooder's 2-id lookup, ~400 ms of everyone's DELIVERED acks once a
 * minute). Unknown counts as large: lookups, which are right for a few ids on any collection.
 */
function approximateSize(collection: Collection<Document>): number {
  const ns = collection.namespace;
  const cached = sizes.get(ns);
  if ((!cached || Date.now() - cached.at >= SIZE_TTL_MS) && !counting.has(ns)) {
    counting.add(ns);
    collection
      .estimatedDocumentCount()
      .catch(() => Number.MAX_SAFE_INTEGER)
      .then((size) => sizes.set(ns, { size, at: Date.now() }))
      .finally(() => counting.delete(ns));
  }
  return cached?.size ?? Number.MAX_SAFE_INTEGER;
}

export async function idLookupFor(db: Db): Promise<IdLookup> {
  const info = await db.admin().command({ buildInfo: 1 }).catch(() => ({}));
  return JSON.stringify(info).toLowerCase().includes('ferretdb') ? 'each' : 'in';
}

export async function findByIds<T extends Document & { _id: string }>(
  collection: Collection<T>,
  lookup: IdLookup,
  ids: readonly string[],
  projection: Document,
  /** `sized`: weigh the ids against the collection's size (one scan when cheaper); else always lookups. `maxTimeMS`: per command. */
  { sized = true, maxTimeMS }: { sized?: boolean; maxTimeMS?: number } = {},
): Promise<T[]> {
  const options = maxTimeMS === undefined ? { projection } : { projection, maxTimeMS };
  if (ids.length === 0) return [];
  // One id is always a lookup: `$in` with a single id is still a whole-collection scan on FerretDB v1,
  // and even a background count (itself a scan there) to weigh one id would cost more than it saves.
  const scan = lookup === 'in' || (sized && ids.length > 1 && ids.length * LOOKUP_COST_IN_SCANNED_DOCS > approximateSize(collection as unknown as Collection<Document>));
  if (scan) {
    return (await collection.find({ _id: { $in: [...ids] } } as Filter<T>, options).toArray()) as T[];
  }
  const docs = await mapLimited([...new Set(ids)], EACH_CONCURRENCY, (id) => collection.findOne({ _id: id } as Filter<T>, options));
  return docs.filter((doc) => doc !== null) as T[];
}
