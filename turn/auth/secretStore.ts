/**
 * The relay's TURN REST shared secret when none is configured: generated once (32 random bytes,
 * base64url) and persisted as `<dataDir>/turn-secret` with file mode 0600, so the web server and the
 * relay (and restarts of either) agree on it. The secret never leaves the server.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Return the configured secrets, or the persisted/generated one.
 * @param configured  secrets from `TURN_SECRET` (comma-separated in the env), newest first; used as is when non-empty.
 * @param dataDir     directory for `turn-secret` (created with mode 0700 if missing).
 * @returns non-empty list of secrets; the first is the one to mint credentials with.
 * @throws Error from the file system when the data directory is not writable.
 */
export function loadOrCreateSecrets(configured: string[] | undefined, dataDir: string): string[] {
  if (configured && configured.length > 0) return configured;
  const file = path.join(dataDir, 'turn-secret');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length > 0) return [existing];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, secret + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  // Another process may have won the race; whatever is on disk now is the secret.
  return [readFileSync(file, 'utf8').trim()];
}
