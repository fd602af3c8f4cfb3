/**
 * Small helpers shared by the relay admin CLIs (`turnadmin`, `stunclient`, `uclient`, `turnpeer`):
 * one-line fatal errors with exit code 1, and commander argument parsers for numbers.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfig, type Env } from '../../contracts/config.js';
import { formatHostPort } from '../../common/hostPort.js';
import { UsersFileError } from '../auth/usersFile.js';

/** An error meant for the user: printed as one line `<prog>: <message>`, exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * Print `<prog>: <message>` (one line) to stderr and exit with code 1.
 * Unexpected errors (not {@link CliError}, `UsersFileError` or ConfigError) print their message
 * too, never a stack, unless `DEBUG_CLI=1` is set.
 */
export function exitWithError(prog: string, err: unknown): never {
  const msg = err instanceof Error ? err.message : String(err);
  const expected = err instanceof CliError || err instanceof UsersFileError || err instanceof ConfigError;
  if (process.env.DEBUG_CLI === '1' && err instanceof Error && !expected) console.error(err.stack);
  console.error(`${prog}: ${msg.replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; ')}`);
  process.exit(1);
}

/**
 * Make commander's own errors (unknown option, missing argument, invalid value) one line
 * `<prog>: <message>` on stderr, with a suggestion for a mistyped option on the same line; commander
 * then exits with code 1.
 * @returns `cmd`, for chaining.
 */
export function configureCommand(cmd: Command, prog: string): Command {
  return cmd.showSuggestionAfterError(true).configureOutput({
    outputError: (str, write) => write(`${prog}: ${str.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}\n`),
  });
}

/**
 * `loadConfig()` for a CLI: the same env validation as the servers.
 * @throws CliError with the validation message collapsed to one line.
 */
export function loadCliConfig(): Env {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

/**
 * A commander argument parser for an integer in `[min, max]`.
 * @throws InvalidArgumentError (commander prints it and exits 1).
 */
export function intArg(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** A commander argument parser for a UDP/TCP port (0–65535). */
export const portArg = intArg(0, 65535);

/** Format a transport address as `ip:port`, IPv6 as `[ip]:port`. */
export function formatAddress(address: string, port: number): string {
  return formatHostPort(address, port);
}
