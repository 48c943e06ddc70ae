// What the driver's own monitoring sees, in the logs: a server changing state (Unknown after an
// outage, back to a writable type after it) and the connection pool being cleared or made ready
// again. One line per transition, never one per heartbeat, so an outage costs a few lines.
import type { MongoClient } from 'mongodb';
import { errorSummary, type Logger } from '../../log.js';

export function logDriverTransitions(client: MongoClient, log: Logger): void {
  client.on('serverDescriptionChanged', (event) => {
    const from = event.previousDescription.type;
    const to = event.newDescription.type;
    if (from === to) return;
    const error = event.newDescription.error;
    const fields = { address: event.address, from, to, ...(error ? { err: errorSummary(error) } : {}) };
    if (to === 'Unknown') log.warn(fields, 'MongoDB server state changed');
    else log.info(fields, 'MongoDB server state changed');
  });
  client.on('connectionPoolCleared', (event) => log.warn({ address: event.address }, 'MongoDB connection pool cleared'));
  client.on('connectionPoolReady', (event) => log.info({ address: event.address }, 'MongoDB connection pool ready'));
}
