// Worker-thread entry of the load generator: runs one ThreadRunner and obeys
// the orchestrator's commands. Protocol (all via postMessage):
//   worker -> main: {ev:'connected'} | {ev:'finished'} | {ev:'result', result} | {ev:'closed'} | {ev:'error', message}
//   main -> worker: {cmd:'start', budget} | {cmd:'stop'} | {cmd:'close'}

import { parentPort, workerData } from 'node:worker_threads';
import { createRunner } from './load-runner.js';
import type { ThreadConfig } from './load-types.js';

type Command = { cmd: 'start'; budget: number } | { cmd: 'stop' } | { cmd: 'close' };

const port = parentPort!;
const runner = createRunner(workerData as ThreadConfig);
const fail = (e: unknown): void => port.postMessage({ ev: 'error', message: e instanceof Error ? e.message : String(e) });

port.on('message', (m: Command) => {
  if (m.cmd === 'start') {
    runner.start(m.budget);
    void runner.finished.then(() => port.postMessage({ ev: 'finished' }));
  } else if (m.cmd === 'stop') {
    runner.stop().then((result) => port.postMessage({ ev: 'result', result }), fail);
  } else if (m.cmd === 'close') {
    runner.close().then(() => {
      port.postMessage({ ev: 'closed' });
      port.close(); // lets the worker exit on its own
    }, fail);
  }
});

runner.connect().then(() => port.postMessage({ ev: 'connected' }), fail);
