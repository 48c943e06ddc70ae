// The live bus the configuration asks for: NATS when BUS_URI is set, none (one instance) otherwise.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { NoBus, type LiveBus } from './live-bus.js';
import { NatsBus } from './nats-bus.js';

export function createBus(config: Config, log: Logger, metrics: Metrics): LiveBus {
  if (config.bus.uri === undefined) return new NoBus();
  return new NatsBus({ uri: config.bus.uri, watchTimeoutMs: config.bus.watchTimeoutMs, log: log.child({ component: 'live-bus' }), metrics });
}
