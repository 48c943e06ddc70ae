// A labelled counter for per-frame paths. prom-client's `inc({label})` hashes a label object into a
// string on every call (an allocation per message); this keeps plain numbers per label value and hands
// them to prom-client only when /metrics is scraped.
import { Counter, type Registry } from 'prom-client';

export class HotCounter<Label extends string = string> {
  private readonly counts = new Map<Label, { value: number }>();

  constructor(name: string, help: string, private readonly labelName: string, registers: Registry[]) {
    const counts = this.counts;
    new Counter({
      name,
      help,
      labelNames: [labelName],
      registers,
      collect(this: Counter<string>) {
        this.reset();
        for (const [label, cell] of counts) this.inc({ [labelName]: label }, cell.value);
      },
    });
  }

  /** A bound cell for a label value: `cell.value++` is the whole per-event cost. */
  cell(label: Label): { value: number } {
    let cell = this.counts.get(label);
    if (!cell) this.counts.set(label, (cell = { value: 0 }));
    return cell;
  }

  inc(label: Label, by = 1): void {
    this.cell(label).value += by;
  }

  /** The current count for a label value (tests, benchmarks). */
  get(label: Label): number {
    return this.counts.get(label)?.value ?? 0;
  }
}
