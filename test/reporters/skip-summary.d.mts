// Types for test/run-all.ts, which feeds this reporter the events of both its runs.
export default function skipSummary(source: AsyncIterable<unknown>): AsyncGenerator<string>;
