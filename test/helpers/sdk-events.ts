// Waiting on the SDK's own events in tests: events, not sleeps.
import type { ChatClient } from '../../src/client/index.js';

/** Resolves when `check` holds, re-checked on every event of the client (no sleeps). */
export function until(client: ChatClient, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const offs = (['message', 'edited', 'deleted', 'delivered', 'error', 'state', 'ready'] as const).map((event) =>
      client.on(event, () => {
        if (!check()) return;
        clearTimeout(timer);
        offs.forEach((off) => off());
        resolve();
      }),
    );
    const timer = setTimeout(() => {
      offs.forEach((off) => off());
      reject(new Error('timed out waiting for a condition'));
    }, timeoutMs);
  });
}
