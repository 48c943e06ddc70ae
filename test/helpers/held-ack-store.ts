// A memory store that stores at once but can hold back the acknowledgement (a slow write reply): for
// races between a send that is stored but not yet acknowledged and whatever runs meanwhile.
import { MemoryStore } from '../../src/store/memory/memory-store.js';
import type { NewMessage, PersistResult } from '../../src/store/store.js';

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

  override async persist(message: NewMessage): Promise<PersistResult> {
    const result = await super.persist(message);
    this.stored++;
    if (this.gate) await this.gate;
    return result;
  }
}
