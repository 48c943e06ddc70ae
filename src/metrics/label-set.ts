// How the hot metrics (hot-counter.ts, hot-histogram.ts) tell label sets apart: the values in
// labelNames order joined with NUL (a one-value key is the value itself), and the label object
// prom-client is given at scrape time. One definition, so both kinds agree on it.

export function labelKey(values: readonly string[]): string {
  return values.join('\u0000');
}

export function labelsFor(labelNames: readonly string[], values: readonly string[]): Record<string, string> {
  return Object.fromEntries(labelNames.map((name, i) => [name, values[i] ?? '']));
}
