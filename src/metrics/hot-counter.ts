// A labelled counter for per-frame and per-request paths. prom-client's `inc({label})` hashes a label
// object into a string on every call (an allocation per message); this keeps plain numbers per label
// set in bound cells and hands them to prom-client only when /metrics is scraped.
import { Counter, type Registry } from 'prom-client';
import { labelKey, labelsFor } from './label-set.js';

export interface CounterCell {
  value: number;
}

export class HotCounter<Label extends string = string> {
  private readonly cells = new Map<string, { labels: Record<string, string>; cell: CounterCell }>();

  constructor(name: string, help: string, private readonly labelNames: readonly string[], registers: Registry[]) {
    const cells = this.cells;
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect(this: Counter<string>) {
        this.reset();
        for (const { labels, cell } of cells.values()) this.inc(labels, cell.value);
      },
    });
  }

  /** A bound cell for one set of label values (in labelNames order): `cell.value++` is the whole cost. */
  cell(...values: Label[]): CounterCell {
    const key = labelKey(values);
    let entry = this.cells.get(key);
    if (!entry) this.cells.set(key, (entry = { labels: labelsFor(this.labelNames, values), cell: { value: 0 } }));
    return entry.cell;
  }

  /**
   * Per-frame paths of a one-label counter (frames in/out by type): one Map lookup by the value itself
   * (a one-value key is the value: `cell`'s join adds nothing), no join and no rest array.
   */
  incOne(value: Label): void {
    (this.cells.get(value)?.cell ?? this.cell(value)).value++;
  }

  /** For paths that are not hot: look the cell up and add (label values in order, or prom-client style). */
  inc(...values: Label[] | [Partial<Record<string, string>>]): void {
    const first = values[0];
    if (typeof first === 'object') {
      this.cell(...(this.labelNames.map((name) => first[name] ?? '') as Label[])).value++;
      return;
    }
    this.cell(...(values as Label[])).value++;
  }

  /** The current count for a set of label values (tests, benchmarks). */
  get(...values: Label[]): number {
    return this.cells.get(labelKey(values))?.cell.value ?? 0;
  }
}
