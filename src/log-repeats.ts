// Repeated warnings and errors, held back: a line with the same level and message as one logged less
// than LOG_REPEAT_MS ago is counted, not written, and the count comes out in one summary line when
// that window ends (`repeated`: how many were held, `repeatedOverMs`: the window). The first of each
// is always written at once.
//
// Why: under a store overload every refused write logged its own warning. A 1,000-member group on
// FerretDB, its members confirming, wrote 11,000 identical "confirmation failed" lines in 3 s
// (bench/group-fanout.ts --store mongo --confirm), the logging itself taking CPU from the overloaded
// process, and an operator's log drowning in one event.
import type { LogFn, Logger } from 'pino';

/** Levels held back: warn and error. Info is lifecycle (rare); fatal is always written. */
const MIN_LEVEL = 40;
const MAX_LEVEL = 50;
/** Distinct messages tracked at once; past this a new message is written every time (messages are fixed strings, so this is never reached in practice). */
const MAX_TRACKED = 1000;

interface Window {
  until: number;
  held: number;
  /** The last held line's fields: the summary carries them (the latest error, say). */
  last?: object;
  timer?: NodeJS.Timeout;
}

type LogMethodHook = (this: Logger, args: Parameters<LogFn>, method: LogFn, level: number) => void;

/** pino's `hooks.logMethod` that holds back repeats; `intervalMs` 0 writes every line. */
export function repeatsHeldBack(intervalMs: number, now: () => number = Date.now): LogMethodHook | undefined {
  if (intervalMs <= 0) return undefined;
  const windows = new Map<string, Window>();

  const forget = (at: number) => {
    for (const [key, window] of windows) if (window.held === 0 && window.until <= at) windows.delete(key);
  };

  return function logMethod(this: Logger, args, method, level) {
    const message = typeof args[0] === 'string' ? args[0] : args[1];
    if (level < MIN_LEVEL || level > MAX_LEVEL || typeof message !== 'string') return method.apply(this, args);
    const key = `${level}:${message}`;
    const at = now();
    const window = windows.get(key);
    // A window whose summary is due (its timer about to fire) still holds: the summary comes first.
    if (!window || (window.until <= at && window.held === 0)) {
      if (!window && windows.size >= MAX_TRACKED) {
        forget(at);
        if (windows.size >= MAX_TRACKED) return method.apply(this, args);
      }
      windows.set(key, { until: at + intervalMs, held: 0 });
      return method.apply(this, args);
    }
    window.held++;
    const fields: unknown = args[0];
    window.last = fields instanceof Error ? { err: fields } : typeof fields === 'object' && fields !== null ? fields : undefined;
    if (window.timer) return;
    window.timer = setTimeout(() => {
      const held = window.held;
      windows.set(key, { until: now() + intervalMs, held: 0 });
      method.call(this, { ...window.last, repeated: held, repeatedOverMs: intervalMs }, message);
    }, Math.max(0, window.until - at));
    window.timer.unref();
  };
}
