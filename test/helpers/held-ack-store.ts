// A memory store that stores at once but can hold back the acknowledgement (a slow write reply): for
// races between a send that is stored but not yet acknowledged and whatever runs meanwhile. It can
// also hold confirmations before they are recorded (a slow confirm write), and then fail them.
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { ConfirmResult, NewMessage, PersistResult } from '../../src/store/store.js';

/** A memory store that stores at once but can hold the acknowledgement (a slow write reply). */
export class HeldAckStore extends MemoryStore {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  stored = 0;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  private confirmGate: { wait: Promise<void>; open: () => void; fail: boolean } | undefined;
  /** Confirmations that reached the store and wait at its gate. */
  confirmsHeld = 0;

  /** Confirmations wait, unrecorded, until releaseConfirms(); then they are recorded, or fail. */
  holdConfirms(): void {
    let open!: () => void;
    const wait = new Promise<void>((resolve) => (open = resolve));
    this.confirmGate = { wait, open, fail: false };
  }

  releaseConfirms(fail = false): void {
    const gate = this.confirmGate;
    this.confirmGate = undefined;
    if (!gate) return;
    gate.fail = fail;
    gate.open();
  }

  override confirmIds(userId: string, deviceId: string, messageIds: readonly string[]): ConfirmResult | Promise<ConfirmResult> {
    const gate = this.confirmGate;
    if (!gate) return super.confirmIds(userId, deviceId, messageIds);
    this.confirmsHeld++;
    return gate.wait.then(() => {
      if (gate.fail) throw new Error('confirm write failed (held-ack-store)');
      return super.confirmIds(userId, deviceId, messageIds);
    });
  }

  override async persist(message: NewMessage): Promise<PersistResult> {
    const result = await super.persist(message);
    this.stored++;
    if (this.gate) await this.gate;
    return result;
  }
}
