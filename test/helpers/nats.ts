// The machine's NATS for the bus tests: TEST_NATS_URI, default nats://127.0.0.1:4222. `natsSkip` is
// why they cannot run (nothing answers there), or false; REQUIRE_BUS=1 makes a missing NATS a failure.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { skipReason } from './skips.js';

export const natsUri = process.env.TEST_NATS_URI ?? 'nats://127.0.0.1:4222';

function reachable(uri: string): Promise<boolean> {
  const { hostname, port } = new URL(uri);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port || 4222), hostname, () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
}

const natsUp = await reachable(natsUri);
if (!natsUp && process.env.REQUIRE_BUS === '1') throw new Error(`REQUIRE_BUS=1 but NATS is not reachable at ${natsUri}`);

export const natsSkip: string | false = natsUp ? false : skipReason('nats', `nothing answers at ${natsUri}`);

/**
 * A bus namespace of this test run's own (BUS_NAMESPACE): its subjects are `chat.<it>.…`, so test files
 * on the same NATS at once are separate deployments and never hear each other's same-named users.
 */
export function testBusNamespace(): string {
  return `t${randomBytes(6).toString('hex')}`;
}
