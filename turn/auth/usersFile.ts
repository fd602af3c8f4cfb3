/**
 * The relay's users file (`TURN_USERS_FILE`, default `<DATA_DIR>/turn-users.json`): static
 * long-term-credential users and extra TURN REST shared secrets. This one module is used by the
 * relay (`UserStore` reads it, `revokeUser` edits it), by `turnadmin` and by the admin API.
 *
 * ```json
 * { "version": 1,
 *   "users":   [ { "name": "alice", "realm": "example.org", "key": "<hex MD5(name:realm:password)>" } ],
 *   "secrets": [ { "value": "<shared secret>", "added": "<ISO time>" } ] }
 * ```
 *
 * Edits go through {@link updateUsersFile}: under a `<file>.lock` file (O_EXCL, holds the pid; stale
 * locks of dead processes are broken) so concurrent editors never lose each other's changes, and
 * written atomically (temp file in the same directory, fsync, rename over, fsync the directory;
 * mode 0600), so a crash mid-write never loses the previous contents.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** One static user: the long-term key, never the password. */
export interface UsersFileUser {
  name: string;
  realm: string;
  /** 32 hex characters: MD5(name ":" realm ":" password), see {@link hmacKey}. */
  key: string;
}

/** One extra TURN REST shared secret. */
export interface UsersFileSecret {
  value: string;
  /** ISO 8601 time it was added. */
  added: string;
}

/** The whole users file. */
export interface UsersFile {
  version: 1;
  users: UsersFileUser[];
  /** Newest first (the first is the one `turnadmin mint` uses); all are accepted. */
  secrets: UsersFileSecret[];
}

/** A users-file problem meant for people: missing, unreadable, malformed, locked, or a bad value. */
export class UsersFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsersFileError';
  }
}

/** zod schema of {@link UsersFile}; `users` and `secrets` default to []. */
export const UsersFileSchema = z.object({
  version: z.literal(1),
  users: z
    .array(
      z.object({
        name: z.string().min(1).max(513),
        realm: z.string().min(1).max(763),
        key: z.string().regex(/^[0-9a-fA-F]{32}$/, 'key must be 32 hex characters (MD5)'),
      }),
    )
    .default([]),
  secrets: z.array(z.object({ value: z.string().min(1), added: z.string() })).default([]),
});

/**
 * The long-term credential key as stored in the users file (RFC 8489 §9.2.2): hex MD5 of `name:realm:password`.
 * @returns 32 lowercase hex characters.
 */
export function hmacKey(name: string, realm: string, password: string): string {
  return createHash('md5').update(`${name}:${realm}:${password}`, 'utf8').digest('hex');
}

/** An empty users file. */
export function emptyUsersFile(): UsersFile {
  return { version: 1, users: [], secrets: [] };
}

/**
 * Parse and validate users-file text.
 * @throws SyntaxError (not JSON) or Error with the zod issues (e.g. `version: ...`).
 */
export function parseUsersFile(text: string): UsersFile {
  const parsed = UsersFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data as UsersFile;
}

/**
 * Read the users file.
 * @param missingOk  a missing file yields {@link emptyUsersFile} (default true); when false it is an error.
 * @throws UsersFileError `users file not found: <file> ...`, `cannot read users file ...` or `users file <file> is malformed: ...`.
 */
export function readUsersFile(file: string, missingOk = true): UsersFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (missingOk) return emptyUsersFile();
      throw new UsersFileError(`users file not found: ${file} (add a user or secret first, or pass --file)`);
    }
    throw new UsersFileError(`cannot read users file ${file}: ${(err as Error).message}`);
  }
  try {
    return parseUsersFile(text);
  } catch (err) {
    throw new UsersFileError(`users file ${file} is malformed: ${(err as Error).message}`);
  }
}

/**
 * Read-modify-write the users file under its lock, written atomically.
 * @param create  a missing file starts empty (else it is an error).
 * @param change  edits the contents in place; may throw to abort (nothing is written).
 * @returns what `change` returned.
 * @throws UsersFileError (missing, malformed, locked); whatever `change` throws; file-system errors.
 */
export function updateUsersFile<T>(file: string, create: boolean, change: (data: UsersFile) => T): T {
  return withFileLock(file, () => {
    const data = readUsersFile(file, create);
    const result = change(data);
    writeUsersFileAtomic(file, data);
    return result;
  });
}

/**
 * Remove static user `name` of `realm`, under the lock. A missing file means no such user.
 * @param lockTimeoutMs  how long to wait for another holder of the lock, ms (the wait blocks the thread).
 * @returns whether the user was in the file (the file is rewritten only then).
 * @throws UsersFileError (malformed, locked); file-system errors.
 */
export function removeUser(file: string, name: string, realm: string, lockTimeoutMs = 5000): boolean {
  return withFileLock(
    file,
    () => {
      const data = readUsersFile(file, true);
      const users = data.users.filter((u) => !(u.name === name && u.realm === realm));
      if (users.length === data.users.length) return false;
      writeUsersFileAtomic(file, { ...data, users });
      return true;
    },
    lockTimeoutMs,
  );
}

/**
 * Write the users file atomically: temp file `<file>.<pid>.tmp` (mode 0600) in the same directory,
 * fsync, rename over `file`, fsync the directory. The directory is created (mode 0700) if missing.
 * Call it under {@link withFileLock}.
 * Crash test hook: env `TURNADMIN_TEST_CRASH_BEFORE_RENAME=1` SIGKILLs the process after the temp
 * file is written and before the rename (to prove the old file survives a crash).
 * @throws Error from the file system (e.g. EACCES).
 */
export function writeUsersFileAtomic(file: string, data: UsersFile): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  removeStaleTempFiles(file);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(data, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (process.env.TURNADMIN_TEST_CRASH_BEFORE_RENAME === '1') process.kill(process.pid, 'SIGKILL');
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Directory fsync is best effort (not supported on every file system).
  }
}

/** Remove `<file>.<pid>.tmp` leftovers of processes that died mid-write (call under the lock). */
function removeStaleTempFiles(file: string): void {
  const base = path.basename(file);
  let names: string[];
  try {
    names = readdirSync(path.dirname(file));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${base}.`) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(base.length + 1, -4));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid)) rmSync(path.join(path.dirname(file), name), { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run `fn` holding `<file>.lock` (created with O_EXCL, holds our pid). Waits up to `timeoutMs`
 * (default 5 000 ms) for another holder; a lock whose pid is dead, or that is older than 60 s, is
 * removed as stale. Synchronous: the wait blocks the thread in 50 ms steps (edits are rare and short).
 * @throws UsersFileError when the lock cannot be taken in time.
 */
export function withFileLock<T>(file: string, fn: () => T, timeoutMs = 5000): T {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const lock = `${file}.lock`;
  const deadline = Date.now() + timeoutMs;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let stale = false;
      try {
        const holder = Number(readFileSync(lock, 'utf8').trim());
        const age = Date.now() - statSync(lock).mtimeMs;
        stale = (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) || age > 60_000;
      } catch {
        continue; // The holder removed it meanwhile: retry at once.
      }
      if (stale) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new UsersFileError(`users file ${file} is locked by another process (${lock})`);
      Atomics.wait(sleeper, 0, 0, 50);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Control characters (C0, DEL, C1): never allowed in a name, realm, password or secret. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Validate a realm (RFC 8489 §14.9: fewer than 128 characters; sent as a quoted-string, so no `"`
 * or `\`; no control characters, no leading/trailing whitespace).
 * @throws UsersFileError `bad realm ...`.
 */
export function validateRealm(realm: string): void {
  const why =
    realm.length === 0
      ? 'must not be empty'
      : [...realm].length > 127
        ? 'must be fewer than 128 characters (RFC 8489 §14.9)'
        : CONTROL.test(realm)
          ? 'must not contain control characters'
          : /["\\]/.test(realm)
            ? 'must not contain " or \\'
            : realm.trim() !== realm
              ? 'must not start or end with whitespace'
              : undefined;
  if (why) throw new UsersFileError(`bad realm ${JSON.stringify(realm)}: ${why}`);
}

/**
 * Validate a long-term-credential user name (RFC 8489 §14.3: fewer than 513 bytes of UTF-8; no `:`,
 * which would make `name:realm:password` ambiguous and clash with TURN REST `<expiry>:<user>`
 * names; no control characters).
 * @throws UsersFileError `bad user name ...`.
 */
export function validateUserName(name: string): void {
  const why =
    name.length === 0
      ? 'must not be empty'
      : Buffer.byteLength(name, 'utf8') >= 513
        ? 'must be fewer than 513 bytes (RFC 8489 §14.3)'
        : name.includes(':')
          ? 'must not contain ":"'
          : CONTROL.test(name)
            ? 'must not contain control characters'
            : name.trim() !== name
              ? 'must not start or end with whitespace'
              : undefined;
  if (why) throw new UsersFileError(`bad user name ${JSON.stringify(name)}: ${why}`);
}

/**
 * Validate a password or shared secret: non-empty, no control characters.
 * @param what  `password` or `secret`, for the message.
 * @throws UsersFileError `bad <what>: ...`.
 */
export function validateSecretText(value: string, what: 'password' | 'secret'): void {
  if (value.length === 0) throw new UsersFileError(`bad ${what}: must not be empty`);
  if (CONTROL.test(value)) throw new UsersFileError(`bad ${what}: must not contain control characters`);
}
