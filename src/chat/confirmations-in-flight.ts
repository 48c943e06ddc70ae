// Confirmations a device's connections sent, of messages they were sent, that the store has not
// answered yet on this instance (ConfirmService tracks them; made-up ids' lookups are not waited for).
// A client that confirms and then reconnects at once (a phone going to the background, a flaky link)
// starts a replay while its last confirmation may still be being written: a replay that read the
// device's cursor first would send those messages again. So a replay waits for the device's
// confirmations in flight here to settle (bounded by the store's op timeout) before it reads. A
// reconnect that lands on another instance can still see the race; the protocol allows that resend
// (a confirmation is final once recorded), and the client drops it by messageId.

export class ConfirmationsInFlight {
  private readonly byDevice = new Map<string, Set<Promise<unknown>>>();

  constructor(
    /** Longest a replay waits (DB_OP_TIMEOUT_MS: a write in flight longer than that has failed). */
    private readonly maxWaitMs: number,
  ) {}

  /** Remembers `pending` until it settles (either way). */
  track(userId: string, deviceId: string, pending: Promise<unknown>): void {
    const key = deviceKey(userId, deviceId);
    let set = this.byDevice.get(key);
    if (set === undefined) this.byDevice.set(key, (set = new Set()));
    set.add(pending);
    const done = () => {
      set.delete(pending);
      if (set.size === 0 && this.byDevice.get(key) === set) this.byDevice.delete(key);
    };
    pending.then(done, done);
  }

  /** Resolves once every confirmation in flight now for this device has settled, or after maxWaitMs. */
  settled(userId: string, deviceId: string): Promise<void> | undefined {
    const set = this.byDevice.get(deviceKey(userId, deviceId));
    if (set === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.maxWaitMs)));
    return Promise.race([Promise.allSettled([...set]).then(() => undefined), timeout]).finally(() => clearTimeout(timer));
  }
}

// User ids and device ids hold no newline (protocol/ids.ts).
const deviceKey = (userId: string, deviceId: string) => `${userId}\n${deviceId}`;
