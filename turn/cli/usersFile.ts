/**
 * Reading and atomically writing the relay's static users file (`TURN_USERS_FILE`, default
 * `<DATA_DIR>/turn-users.json`), as edited by `turnadmin` and re-read by the running relay:
 *
 * ```json
 * { "version": 1,
 *   "users":   [ { "name": "alice", "realm": "example.org", "key": "<hex MD5(name:realm:password)>" } ],
 *   "secrets": [ { "value": "<shared secret>", "added": "<ISO time>" } ] }
 * ```
 *
 * Writes are atomic (temp file in the same directory, fsync, rename over, fsync the directory;
 * mode 0600), so a crash mid-write never loses the previous contents, and serialized between
 * concurrent `turnadmin` runs by a `<file>.lock` file (stale locks of dead processes are broken).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { emptyUsersFile, hmacKey, parseUsersFile, type UsersFile } from '../auth/userStore.js';
import { CliError } from './common.js';

export { emptyUsersFile, hmacKey, type UsersFile };

/**
 * Read the users file.
 * @param missingOk  when true a missing file yields {@link emptyUsersFile}; otherwise it is an error.
 * @throws CliError `users file not found: <file>` (missing, `missingOk` false) or malformed contents.
 */
export function readUsersFile(file: string, missingOk: boolean): UsersFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (missingOk) return emptyUsersFile();
      throw new CliError(`users file not found: ${file} (add a user or secret first, or pass --file)`);
    }
    throw new CliError(`cannot read users file ${file}: ${(err as Error).message}`);
  }
  try {
    return parseUsersFile(text);
  } catch (err) {
    throw new CliError(`users file ${file} is malformed: ${(err as Error).message}`);
  }
}

/**
 * Write the users file atomically: temp file `<file>.<pid>.tmp` (mode 0600) in the same directory,
 * fsync, rename over `file`, fsync the directory. The directory is created (mode 0700) if missing.
 * Test hook: env `TURNADMIN_TEST_CRASH_BEFORE_RENAME=1` SIGKILLs the process after the temp file is
 * written and before the rename (to prove the old file survives a crash).
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
 * removed as stale.
 * @throws CliError when the lock cannot be taken in time.
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
      if (Date.now() > deadline) throw new CliError(`users file ${file} is locked by another process (${lock})`);
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
 * @throws CliError `bad realm ...`.
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
  if (why) throw new CliError(`bad realm ${JSON.stringify(realm)}: ${why}`);
}

/**
 * Validate a long-term-credential user name (RFC 8489 §14.3: fewer than 513 bytes of UTF-8; no `:`,
 * which would make `name:realm:password` ambiguous and clash with TURN REST `<expiry>:<user>`
 * names; no control characters).
 * @throws CliError `bad user name ...`.
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
  if (why) throw new CliError(`bad user name ${JSON.stringify(name)}: ${why}`);
}

/**
 * Validate a password or shared secret: non-empty, no control characters.
 * @param what  `password` or `secret`, for the message.
 * @throws CliError `bad <what>: ...`.
 */
export function validateSecretText(value: string, what: 'password' | 'secret'): void {
  if (value.length === 0) throw new CliError(`bad ${what}: must not be empty`);
  if (CONTROL.test(value)) throw new CliError(`bad ${what}: must not contain control characters`);
}
