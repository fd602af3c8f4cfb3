/**
 * The TURN REST shared-secret set: the one list the web server (minting `/api/ice-servers`
 * credentials), the relay (verifying them) and `turnadmin` (listing, adding, removing, minting) read.
 *
 * Newest first:
 * 1. secrets added with `turnadmin add-secret` / `-s`, kept in the users file (newest first);
 * 2. the configured ones, `TURN_SECRET` (comma-separated, in that order). They come from the
 *    environment, which no program here edits: they stay valid for the life of the process and are
 *    retired by editing the environment and restarting;
 * 3. without `TURN_SECRET`: the generated one, `DATA_DIR/turn-secret` (32 random bytes, base64url,
 *    mode 0600), created only when the set would otherwise be empty, and removable with
 *    `turnadmin remove-secret` (the file is deleted).
 *
 * New credentials are signed with the first (newest) secret; every secret in the set verifies. So
 * adding a secret switches minting to it at once while credentials signed before keep working, and
 * removing a secret revokes what it signed. {@link SecretStore} re-reads both files every 250 ms.
 * Secrets never leave the server; `turnadmin list-secrets` prints them masked ({@link maskSecret}).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { TurnLogger } from '../logger.js';
import { UsersFileError, readUsersFile, withFileLock } from './usersFile.js';

/** Where a secret comes from. */
export type SecretSource = 'added' | 'configured' | 'generated';

/** One secret of the set. */
export interface SecretEntry {
  value: string;
  source: SecretSource;
  /** ISO 8601 time it was added (added and generated secrets). */
  added?: string;
}

/** Where the set lives. */
export interface SecretSetLocation {
  /** `TURN_SECRET`, newest first (undefined or empty: none configured). */
  configured?: readonly string[];
  /** `DATA_DIR`: holds the generated `turn-secret`. */
  dataDir: string;
  /** The users file (`TURN_USERS_FILE`), holding added secrets; undefined: none. */
  usersFile?: string;
}

/** Shortest secret accepted without a warning (and by `turnadmin add-secret`), characters. */
export const MIN_SECRET_LENGTH = 16;

/** Path of the generated secret. */
export function generatedSecretPath(dataDir: string): string {
  return path.join(dataDir, 'turn-secret');
}

/** A short id of a secret for people (first 8 hex digits of its SHA-256); `turnadmin remove-secret` accepts it. */
export function secretId(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 8);
}

/** A secret for display: its first 3 characters, then `…` and its length, e.g. `Xk3…(43 chars)`. */
export function maskSecret(value: string): string {
  return `${value.slice(0, Math.min(3, Math.floor(value.length / 4)))}…(${value.length} chars)`;
}

/** The configured secrets shorter than {@link MIN_SECRET_LENGTH}, for a start-up warning. */
export function weakSecrets(values: readonly string[] | undefined): string[] {
  return (values ?? []).filter((v) => v.length < MIN_SECRET_LENGTH);
}

function readGenerated(dataDir: string): SecretEntry | undefined {
  const file = generatedSecretPath(dataDir);
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (value.length === 0) return undefined;
    return { value, source: 'generated', added: statSync(file).mtime.toISOString() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Create the generated secret unless the file exists: written to a temp file, fsynced, then linked
 * into place (link fails when another process won the race; its secret is used).
 */
function createGenerated(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = generatedSecretPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, randomBytes(32).toString('base64url') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Read the whole set, newest first (see the module comment).
 * @param create  generate `DATA_DIR/turn-secret` when the set would be empty (under the users file's
 *                lock, so it never races `turnadmin remove-secret`).
 * @throws UsersFileError when the users file is malformed; file-system errors (e.g. EACCES).
 */
export function readSecretSet(loc: SecretSetLocation, { create = false } = {}): SecretEntry[] {
  const read = (): SecretEntry[] => {
    const added: SecretEntry[] = loc.usersFile ? readUsersFile(loc.usersFile, true).secrets.map((s) => ({ value: s.value, source: 'added', added: s.added })) : [];
    const configured: SecretEntry[] = (loc.configured ?? []).map((value) => ({ value, source: 'configured' }));
    const generated = configured.length === 0 ? readGenerated(loc.dataDir) : undefined;
    const all = [...added, ...configured, ...(generated ? [generated] : [])];
    // The same value listed twice counts once (its newest place).
    return all.filter((e, i) => all.findIndex((x) => x.value === e.value) === i);
  };
  const set = read();
  if (set.length > 0 || !create) return set;
  const generate = () => {
    const again = read();
    if (again.length > 0) return again;
    createGenerated(loc.dataDir);
    return read();
  };
  return loc.usersFile ? withFileLock(loc.usersFile, generate) : generate();
}

/**
 * Delete the generated secret file when it holds `value` (call under the users file's lock).
 * @returns whether it did.
 */
export function removeGeneratedSecret(dataDir: string, value: string): boolean {
  const g = readGenerated(dataDir);
  if (!g || g.value !== value) return false;
  rmSync(generatedSecretPath(dataDir), { force: true });
  return true;
}

/** The files a set is read from and their state (mtime, size, inode), to notice changes. */
function signature(loc: SecretSetLocation): string {
  return [loc.usersFile, generatedSecretPath(loc.dataDir)]
    .map((f) => {
      if (!f) return '-';
      try {
        const s = statSync(f);
        return `${s.mtimeMs}/${s.size}/${s.ino}`;
      } catch {
        return 'none';
      }
    })
    .join('|');
}

/**
 * A live view of the secret set for a long-running process (web server, relay): read (and, when
 * empty, generated) at {@link start}, re-read when either file changes (polled every `pollMs`).
 * A malformed users file keeps the last good set and logs a warning.
 */
export class SecretStore {
  private entries: SecretEntry[] = [];
  private sig = '';
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param loc     where the set lives.
   * @param logger  info on changes, warnings for unreadable files.
   * @param pollMs  how often the files are checked, ms (default 250).
   */
  constructor(
    readonly loc: SecretSetLocation,
    private readonly logger?: TurnLogger,
    private readonly pollMs = 250,
  ) {}

  /**
   * Read the set (generating the secret when it is empty) and start polling. A malformed users file
   * is logged and skipped (its secrets count again once it is fixed): it must not stop a server.
   * @throws Error from the file system (e.g. an unwritable data directory).
   */
  start(): this {
    this.sig = signature(this.loc);
    try {
      this.entries = readSecretSet(this.loc, { create: true });
    } catch (err) {
      if (!(err instanceof UsersFileError)) throw err;
      this.logger?.error(`TURN REST secrets: ${err.message}; using the other secrets until it is fixed`);
      this.entries = readSecretSet({ ...this.loc, usersFile: undefined }, { create: true });
    }
    this.sig = signature(this.loc);
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.timer.unref();
    }
    return this;
  }

  /** Stop polling. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-read now when a file changed since the last read. */
  poll(): void {
    const sig = signature(this.loc);
    if (sig === this.sig) return;
    this.sig = sig;
    try {
      const next = readSecretSet(this.loc, { create: true });
      const changed = next.map((e) => e.value).join('\n') !== this.entries.map((e) => e.value).join('\n');
      this.entries = next;
      this.sig = signature(this.loc);
      if (changed) this.logger?.info(`TURN REST secrets: ${next.length} in use (${next.map((e) => `${secretId(e.value)} ${e.source}`).join(', ')}), newest first`);
    } catch (err) {
      this.logger?.warn(`TURN REST secrets not re-read, keeping the previous ones: ${(err as Error).message}`);
    }
  }

  /** Every secret in use, newest first. */
  all(): readonly SecretEntry[] {
    return this.entries;
  }

  /** The secret to sign new credentials with; '' when the set is empty (then nothing verifies). */
  newest(): string {
    return this.entries[0]?.value ?? '';
  }

  /** The configured or generated secrets, i.e. those not in the users file (what a relay that reads the users file itself adds). */
  base(): string[] {
    return this.entries.filter((e) => e.source !== 'added').map((e) => e.value);
  }
}
