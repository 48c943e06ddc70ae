// The live bus the configuration asks for: NATS when BUS_URI is set, none (one instance) otherwise.
import { createHmac } from 'node:crypto';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { NoBus, type LiveBus } from './live-bus.js';
import { NatsBus } from './nats-bus.js';

export function createBus(config: Config, log: Logger, metrics: Metrics): LiveBus {
  if (config.bus.uri === undefined) return new NoBus();
  return new NatsBus({ uri: config.bus.uri, namespace: busNamespace(config), watchTimeoutMs: config.bus.watchTimeoutMs, log: log.child({ component: 'live-bus' }), metrics });
}

/**
 * The deployment's subject namespace: BUS_NAMESPACE, or else a keyed hash of JWT_SECRET, which every
 * instance of one deployment must share (to verify each other's tokens) and another deployment does
 * not. An HMAC tells no more of the secret than any token it signed does; 96 bits, one subject token.
 */
export function busNamespace(config: Config): string {
  return config.bus.namespace ?? createHmac('sha256', config.jwt.secret).update('uws-chat live bus namespace').digest('base64url').slice(0, 16);
}
