// Reproduces the FerretDB v1 deadlock the fault tests found (docs/reliability.md, "FerretDB"): one
// unordered update command whose matched documents outnumber FerretDB's PostgreSQL pool never
// finishes, and FerretDB answers nothing more until it is restarted. Runs on its own throwaway
// FerretDB (port 27029, PostgreSQL database ferretdb_deadlock_probe), never on the shared one.
//
//   node --import tsx test/reliability/ferretdb-update-deadlock.ts     (exit 0: reproduced; 1: not)
import { execFileSync } from 'node:child_process';
import { MongoClient } from 'mongodb';

const PORT = '27029';
const POOL = 20;
const env = { ...process.env, MONGO_TEST_PORT: PORT, FERRETDB_PG_DATABASE: 'ferretdb_deadlock_probe', FERRETDB_PG_POOL: String(POOL), FERRETDB_LOG_LEVEL: 'warn' };
const script = new URL('../../scripts/mongo-test-server.sh', import.meta.url).pathname;
const server = (command: 'start' | 'stop') => execFileSync('bash', [script, command], { env, stdio: ['ignore', 'ignore', 'inherit'] });

/** Resolves true if `ops` matched $set updates in one bulk write finish within 10 s. */
async function bulkFinishes(ops: number): Promise<boolean> {
  const client = new MongoClient(`mongodb://127.0.0.1:${PORT}/probe`, { serverSelectionTimeoutMS: 5000, socketTimeoutMS: 10_000 });
  await client.connect();
  const collection = client.db().collection<{ _id: string; n: number }>('docs');
  try {
    await collection.deleteMany({});
    await collection.insertMany(Array.from({ length: ops }, (_, i) => ({ _id: `d${i}`, n: 0 })));
    await collection.bulkWrite(Array.from({ length: ops }, (_, i) => ({ updateOne: { filter: { _id: `d${i}` }, update: { $inc: { n: 1 } } } })), { ordered: false });
    return true;
  } catch {
    return false;
  } finally {
    await client.close(true).catch(() => {});
  }
}

async function pingAnswers(): Promise<boolean> {
  const client = new MongoClient(`mongodb://127.0.0.1:${PORT}/probe`, { serverSelectionTimeoutMS: 3000, socketTimeoutMS: 5000 });
  try {
    await client.connect();
    await client.db().collection('docs').findOne({});
    return true;
  } catch {
    return false;
  } finally {
    await client.close(true).catch(() => {});
  }
}

server('start');
try {
  const small = await bulkFinishes(POOL - 2);
  const large = await bulkFinishes(60); // over the pool whether it is 20 (our script) or 50 (FerretDB's default)
  const alive = await pingAnswers();
  console.log(`pool ${POOL}: a bulk of ${POOL - 2} matched updates ${small ? 'finishes' : 'HANGS'}; of 60: ${large ? 'finishes' : 'HANGS'}; afterwards FerretDB ${alive ? 'answers' : 'answers NOTHING (until restarted)'}`);
  process.exitCode = small && !large && !alive ? 0 : 1;
} finally {
  server('stop');
}
