// Which MongoDB commands a process sends, and how long they take: a preload (`--import`) that turns on
// the driver's command monitoring for every MongoClient and, on exit, writes one line per kind of
// command (name, collection, filter shape), slowest total first, to
// $MONGO_COMMANDS_OUT (default the temp dir)/mongo-commands-<pid>.txt (again at each SIGUSR2). For a reliability run:
//   FAULT_SERVER_PRELOAD=$PWD/bench/tools/mongo-commands.mjs TEST_MONGO_URI=... node --import tsx --test test/reliability/<test>.ts
// Monitoring costs the driver an event per command: read counts and shares, not absolute latencies.
import { MongoClient } from 'mongodb';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const kinds = new Map();
const started = new Map();
const shape = (o) => (o && typeof o === 'object' ? Object.keys(o).join(',') : '');
const describe = (c) =>
  c.filter ? shape(c.filter) : c.updates ? `${c.updates.length} updates of ${shape(c.updates[0]?.q)}` : c.documents ? `${c.documents.length} docs` : c.deletes ? `${c.deletes.length} deletes` : c.pipeline ? 'pipeline' : '';

const connect = MongoClient.prototype.connect;
MongoClient.prototype.connect = function (...args) {
  if (!this.monitorCommands) {
    this.monitorCommands = true;
    this.on('commandStarted', (e) => {
      const target = e.command[e.commandName];
      started.set(e.requestId, `${e.commandName} ${typeof target === 'string' ? target : ''} ${describe(e.command)}`);
    });
    const done = (e) => {
      const kind = started.get(e.requestId);
      if (kind === undefined) return;
      started.delete(e.requestId);
      const entry = kinds.get(kind) ?? { count: 0, ms: 0, maxMs: 0 };
      entry.count++;
      entry.ms += e.duration;
      entry.maxMs = Math.max(entry.maxMs, e.duration);
      kinds.set(kind, entry);
    };
    this.on('commandSucceeded', done);
    this.on('commandFailed', done);
  }
  return connect.apply(this, args);
};

const write = () => {
  const lines = [...kinds].sort((a, b) => b[1].ms - a[1].ms).map(([kind, e]) => `${String(e.count).padStart(7)} ${e.ms.toFixed(0).padStart(8)} ms  avg ${(e.ms / e.count).toFixed(1).padStart(6)}  max ${e.maxMs.toFixed(0).padStart(5)}  ${kind}`);
  try {
    writeFileSync(join(process.env.MONGO_COMMANDS_OUT ?? tmpdir(), `mongo-commands-${process.pid}.txt`), `  count    total          avg          max  command collection filter\n${lines.join('\n')}\n`);
  } catch {}
};
process.on('exit', write);
// And on SIGUSR2, for a reader that looks while the process runs (test/integration/groups-two-instances.test.ts).
process.on('SIGUSR2', write);
