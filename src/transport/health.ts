// What /healthz and /readyz answer, shared by the uWS routes (routes.ts) and HEALTH_PORT (health-port.ts).
import type { Store } from '../store/store.js';

export interface HealthAnswer {
  readonly status: number;
  readonly body: { readonly status: string };
}

export interface ReadinessDeps {
  readonly store: Store;
  /** True from the signal on (also during SHUTDOWN_DRAIN_DELAY_MS, while everything else is still served). */
  readonly isDraining: () => boolean;
}

/** The process runs: /healthz. */
export const ALIVE: HealthAnswer = { status: 200, body: { status: 'ok' } };

const READY_TIMEOUT_MS = 2000;
const DRAINING: HealthAnswer = { status: 503, body: { status: 'shutting_down' } };

/** /readyz: 200 when the store answers within 2 s and the server is not draining, else 503. */
export async function readiness(deps: ReadinessDeps): Promise<HealthAnswer> {
  if (deps.isDraining()) return DRAINING;
  try {
    await withTimeout(deps.store.ping(), READY_TIMEOUT_MS);
  } catch {
    return { status: 503, body: { status: 'store_unavailable' } };
  }
  // The signal may have come while the store answered.
  return deps.isDraining() ? DRAINING : { status: 200, body: { status: 'ready' } };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error) => (clearTimeout(timer), reject(error)),
    );
  });
}
