// Structured JSON logs (pino), one line per event. The logger is created in main.ts and injected.
// Redaction is a second line of defence: code never passes tokens, secrets or message bodies to it.
import { pino, type DestinationStream, type Logger } from 'pino';
import { repeatsHeldBack } from './log-repeats.js';

export type { Logger };

export interface LogOptions {
  readonly level: string;
  readonly pretty?: boolean;
  /** LOG_REPEAT_MS: repeated warnings and errors are held back this long and counted (log-repeats.ts); 0 or absent writes each. */
  readonly repeatMs?: number;
}

const REDACT = [
  'token', 'jwt', 'secret', 'password', 'cookie', 'authorization', 'body',
  '*.token', '*.jwt', '*.secret', '*.password', '*.cookie', '*.authorization', '*.body',
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-metrics-key"]',
];

export function createLogger(options: LogOptions, destination?: DestinationStream): Logger {
  const logMethod = repeatsHeldBack(options.repeatMs ?? 0);
  const base = {
    level: options.level,
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(logMethod ? { hooks: { logMethod } } : {}),
  };
  if (destination) return pino(base, destination);
  if (options.pretty) {
    // pino-pretty is optional (not a dependency): fall back to JSON if it is not installed, and say so.
    try {
      return pino({ ...base, transport: { target: 'pino-pretty' } });
    } catch {
      const log = pino(base, stdoutInOrder());
      log.warn('LOG_PRETTY=true but pino-pretty is not installed (npm install pino-pretty): logging JSON');
      return log;
    }
  }
  return pino(base, stdoutInOrder());
}

/**
 * process.stdout, which Node writes synchronously on Linux (files, pipes and terminals alike): with
 * pino's default asynchronous writer, a line still being written when the process exited landed after
 * the lines flushed at exit ("shutting down" after "shutdown complete"). Info lines are rare here
 * (lifecycle and closes, not messages), so a write each is cheap.
 */
function stdoutInOrder(): DestinationStream {
  return process.stdout;
}

/** A logger that drops everything (tests and benchmarks that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** What of an error is safe to log: its name, code and message, never the request that caused it. */
export function errorSummary(error: unknown): { name: string; message: string; code?: unknown } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(code !== undefined ? { code } : {}) };
  }
  return { name: 'unknown', message: String(error) };
}

/**
 * Where a connection URI points, safe to log: scheme, hosts and path, without credentials or options
 * (MongoDB and NATS URIs alike; a comma-separated list of URIs keeps every entry).
 */
export function uriForLogs(uri: string): string {
  return uri
    .split(/,(?=[a-z][a-z0-9+.-]*:\/\/)/i)
    .map((part) => {
      const match = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/]*@)?([^/?]*)(\/[^?]*)?/i.exec(part.trim());
      return match ? `${match[1]}${match[2]}${match[3] ?? ''}` : '(unparsable uri)';
    })
    .join(',');
}
