// Structured JSON logs (pino), one line per event. The logger is created in main.ts and injected.
// Redaction is a second line of defence: code never passes tokens, secrets or message bodies to it.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  readonly level: string;
  readonly pretty?: boolean;
}

const REDACT = [
  'token', 'jwt', 'secret', 'password', 'cookie', 'authorization', 'body',
  '*.token', '*.jwt', '*.secret', '*.password', '*.cookie', '*.authorization', '*.body',
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-metrics-key"]',
];

export function createLogger(options: LogOptions, destination?: DestinationStream): Logger {
  const base = {
    level: options.level,
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(base, destination);
  if (options.pretty) {
    // pino-pretty is optional (not a dependency): fall back to JSON if it is not installed.
    try {
      return pino({ ...base, transport: { target: 'pino-pretty' } });
    } catch {
      return pino(base);
    }
  }
  return pino(base);
}

/** A logger that drops everything (tests and benchmarks that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
