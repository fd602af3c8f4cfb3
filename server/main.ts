/**
 * Entry point of the web server: `node dist/server/main.js` (`npm start` builds first).
 *
 * Reads the configuration (environment, optionally `.env`), starts HTTPS + Socket.IO signaling +
 * the supervised relay child, and stops gracefully on SIGTERM/SIGINT: clients get
 * `restarting`, sockets are closed, the relay is stopped, logs are flushed, exit code 0.
 * Exit code 1 on invalid configuration (the message names each bad variable; no stack trace) or
 * when the server cannot start (e.g. port in use).
 */
import { ConfigError, loadConfig, type Env } from '../contracts/config.js';
import { getLogger, shutdownLogging } from './logger.js';
import { startServer, type RunningServer } from './server.js';

/** Hard limit for a graceful stop, ms; after it the process exits anyway. */
const STOP_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  let config: Env;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  let server: RunningServer;
  try {
    server = await startServer({ config });
  } catch (err) {
    const msg = err instanceof ConfigError ? err.message : `cannot start: ${(err as Error).message}`;
    process.stderr.write(`${msg}\n`);
    getLogger('server').fatal(msg);
    await shutdownLogging();
    process.exit(1);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const deadline = setTimeout(() => {
      process.stderr.write(`graceful stop took longer than ${STOP_DEADLINE_MS} ms; exiting\n`);
      process.exit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    void server
      .close(`received ${signal}`)
      .then(() => shutdownLogging())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('uncaughtException', (err) => {
    getLogger('server').fatal(`uncaught exception: ${err.stack ?? err.message}`);
  });
  process.on('unhandledRejection', (reason) => {
    getLogger('server').error(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  });
}

void main();
