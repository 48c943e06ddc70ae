// The messageIds already handed to the application, so a message replayed after a lost confirmation
// is not shown twice, and whether the application has confirmed each (a repeat of a confirmed
// message is confirmed again: the repeat means the first confirmation was lost). Bounded: past `max`
// the oldest ids are forgotten (a message would have to stay unconfirmed through `max` newer ones to
// be shown again).

export class SeenIds {
  /** messageId → confirmed; a Map iterates in insertion order, so the first key is the oldest. */
  private readonly ids = new Map<string, boolean>();

  constructor(private readonly max: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  isConfirmed(id: string): boolean {
    return this.ids.get(id) === true;
  }

  add(id: string, confirmed: boolean): void {
    this.ids.set(id, confirmed);
    if (this.ids.size > this.max) this.ids.delete(this.ids.keys().next().value as string);
  }

  markConfirmed(id: string): void {
    if (this.ids.has(id)) this.ids.set(id, true);
  }

  get size(): number {
    return this.ids.size;
  }
}
