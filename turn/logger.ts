/** The logging interface the relay uses; log4js loggers satisfy it. Default: no output. */
export interface TurnLogger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}

/** A logger that drops everything. */
export const noopLogger: TurnLogger = { debug() {}, info() {}, warn() {}, error() {} };
