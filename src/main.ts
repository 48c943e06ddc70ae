// The process entry: reads the environment (through config.ts), wires the server, owns signals and
// exit codes. Nothing else in the code base touches process.env, signals or process.exit.
import { createBus } from './bus/create-bus.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics/registry.js';
import { createServer, type ChatServer } from './server.js';
import { PortInUseError } from './transport/listen.js';

function loadOrExit(): { config: Config; warnings: readonly string[] } {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const line of error.lines) console.error(line);
      process.exit(1);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const { config, warnings } = loadOrExit();
  const log = createLogger(config.log);
  for (const warning of warnings) log.warn(warning);
  installCrashHandlers(log);

  // Signals are handled from before the server listens: the "listening" line can reach a supervisor
  // (or a test) that answers with SIGTERM before createServer returns, and an unhandled SIGTERM would
  // kill the process by signal instead of exiting cleanly.
  let server: ChatServer | undefined;
  const shutdown = (signal: string) => {
    if (!server) {
      log.info({ signal }, 'signal while starting; nothing accepted yet, exiting');
      process.exit(0);
    }
    if (server.shuttingDown) return;
    const running = server;
    log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ connections: running.connectionCount(), exitCode: 1 }, 'shutdown grace period passed; exiting with work left');
      process.exit(1);
    }, config.shutdownGraceMs);
    running.close().then(
      () => {
        clearTimeout(timer);
        log.info({ socketsClosed: running.socketsClosed, exitCode: 0 }, 'shutdown complete');
        process.exit(0);
      },
      (error) => {
        log.error({ err: error, exitCode: 1 }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const metrics = createMetrics();
  try {
    server = await createServer(config, { bus: createBus(config, log, metrics), log, metrics });
  } catch (error) {
    if (error instanceof PortInUseError) {
      console.error(error.message); // `Port <PORT> is already in use`, the line operators grep for
      process.exit(1);
    }
    log.fatal({ err: error }, 'startup failed');
    process.exit(1);
  }
}

function installCrashHandlers(log: Logger): void {
  // A crash ends the process (Docker or PM2 restarts it): acked messages are already stored.
  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    log.fatal({ err: reason }, 'unhandled rejection');
    process.exit(1);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
