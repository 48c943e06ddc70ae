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

/**
 * How long a store check's answer is reused. /readyz needs no token and is often public: a ping per
 * request let a flood of it (1,000/s) take others' send latency from 30 to 245 ms, the pings queued
 * beside real work in the driver's pool. Now at most one ping is in flight and one starts a second.
 */
const STORE_CHECK_REUSE_MS = 1000;

/** Per store: the last check, and when it settled (Infinity while in flight). */
const storeChecks = new WeakMap<Store, { settledAt: number; answers: Promise<boolean> }>();

/** /readyz: 200 when the store answered within 2 s (at most a second ago) and the server is not draining, else 503. */
export async function readiness(deps: ReadinessDeps): Promise<HealthAnswer> {
  if (deps.isDraining()) return DRAINING;
  if (!(await storeAnswers(deps.store))) return { status: 503, body: { status: 'store_unavailable' } };
  // The signal may have come while the store answered.
  return deps.isDraining() ? DRAINING : { status: 200, body: { status: 'ready' } };
}

function storeAnswers(store: Store): Promise<boolean> {
  const last = storeChecks.get(store);
  if (last && Date.now() - last.settledAt < STORE_CHECK_REUSE_MS) return last.answers;
  const answers = withTimeout(store.ping(), READY_TIMEOUT_MS).then(
    () => true,
    () => false,
  );
  const check = { settledAt: Infinity, answers };
  void answers.then(() => (check.settledAt = Date.now()));
  storeChecks.set(store, check);
  return answers;
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
