/**
 * Logging for the web server, with log4js.
 *
 * Categories: `http` (access log), `signaling` (room events; every line names the room and the
 * socket id), `turn` (relay supervision and the relay child's own output), plus `server`
 * (start/stop). Appenders: stdout and a rotating file `<LOG_DIR>/server.log`
 * (`maxLogSize` 10 MiB, 5 backups). Level from `LOG_LEVEL`.
 *
 * `LOG_CONFIG=/path/log4js.json` replaces that default with a log4js configuration file
 * (`{"appenders": {...}, "categories": {"default": {...}, "signaling": {...}}}`, see
 * https://log4js-node.github.io/log4js-node/api.html); `LOG_LEVEL` and `LOG_DIR` are then unused
 * (relative `filename`s in the file are relative to the working directory).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import log4js from 'log4js';
import type { Env } from '../contracts/config.js';

export type LogCategory = 'http' | 'signaling' | 'turn' | 'server' | 'admin' | 'webhooks';

/** Size at which `server.log` is rotated, bytes. */
export const LOG_MAX_SIZE_BYTES = 10 * 1024 * 1024;
/** Rotated files kept (`server.log.1` … `server.log.5`). */
export const LOG_BACKUPS = 5;

let configured = false;

/**
 * Read a log4js JSON configuration file (`LOG_CONFIG`).
 * @throws Error `LOG_CONFIG <path>: <reason>` when the file cannot be read, is not JSON, or has
 *         no `appenders`/`categories.default` objects.
 */
export function readLogConfig(file: string): log4js.Configuration {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`LOG_CONFIG ${file}: ${(err as Error).message}`);
  }
  const c = parsed as Partial<log4js.Configuration> | null;
  if (!c || typeof c !== 'object' || typeof c.appenders !== 'object' || typeof c.categories?.default !== 'object') {
    throw new Error(`LOG_CONFIG ${file}: must be a log4js configuration with "appenders" and "categories.default"`);
  }
  return c as log4js.Configuration;
}

/**
 * Configure log4js (idempotent: a second call reconfigures with the new settings).
 * @param config  `LOG_CONFIG` when set (the file replaces the default), else `LOG_LEVEL` and
 *                `LOG_DIR` (created if missing).
 * @throws Error from the file system when `LOG_DIR` cannot be created; Error naming LOG_CONFIG
 *         when that file is unreadable or invalid (log4js's own validation message included).
 */
export function configureLogging(config: Pick<Env, 'LOG_LEVEL' | 'LOG_DIR'> & Partial<Pick<Env, 'LOG_CONFIG'>>): void {
  if (config.LOG_CONFIG) {
    const file = readLogConfig(config.LOG_CONFIG);
    try {
      log4js.configure(file);
    } catch (err) {
      throw new Error(`LOG_CONFIG ${config.LOG_CONFIG}: ${(err as Error).message}`);
    }
    configured = true;
    return;
  }
  mkdirSync(config.LOG_DIR, { recursive: true });
  log4js.configure({
    appenders: {
      out: { type: 'stdout', layout: { type: 'pattern', pattern: '%d{ISO8601_WITH_TZ_OFFSET} [%p] %c - %m' } },
      file: {
        type: 'file',
        filename: path.join(config.LOG_DIR, 'server.log'),
        maxLogSize: LOG_MAX_SIZE_BYTES,
        backups: LOG_BACKUPS,
        layout: { type: 'pattern', pattern: '%d{ISO8601_WITH_TZ_OFFSET} [%p] %c - %m' },
      },
    },
    categories: { default: { appenders: ['out', 'file'], level: config.LOG_LEVEL } },
  });
  configured = true;
}

/** A logger for one category. Before {@link configureLogging} log4js logs nothing (level off). */
export function getLogger(category: LogCategory): log4js.Logger {
  return log4js.getLogger(category);
}

/** True once {@link configureLogging} ran. */
export function isLoggingConfigured(): boolean {
  return configured;
}

/**
 * Flush and close the appenders (call once before the process exits).
 * @returns a promise resolved when the file appender is flushed (never rejects).
 */
export function shutdownLogging(): Promise<void> {
  return new Promise((resolve) => {
    if (!configured) return resolve();
    configured = false;
    log4js.shutdown(() => resolve());
  });
}

/** Express middleware: access log on the `http` category (health/metrics probes are not logged). */
export function accessLogger(): ReturnType<typeof log4js.connectLogger> {
  return log4js.connectLogger(getLogger('http'), {
    level: 'auto',
    format: ':remote-addr ":method :url HTTP/:http-version" :status :content-length :response-timems ":user-agent"',
    nolog: /^\/(healthz|readyz|metrics)(\?|$)/,
    // 2xx/3xx info, 4xx warn, 5xx error (log4js 'auto' alone logs every 4xx as an error).
    statusRules: [
      { from: 100, to: 399, level: 'info' },
      { from: 400, to: 499, level: 'warn' },
      { from: 500, to: 599, level: 'error' },
    ],
  });
}
