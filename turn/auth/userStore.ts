/**
 * Static users and extra TURN REST secrets from a JSON file, reloaded without restart.
 *
 * File format (version 1), written atomically by the `turnadmin` CLI:
 * ```json
 * { "version": 1,
 *   "users":   [ { "name": "alice", "realm": "example.org", "key": "<hex MD5(name:realm:password)>" } ],
 *   "secrets": [ { "value": "<shared secret>", "added": "<ISO time>" } ] }
 * ```
 * Users count only when their realm equals the relay's realm. Secrets are valid in addition to the
 * configured ones (rotation). A missing file means no static users and no extra secrets; a
 * malformed file keeps the last good contents and logs a warning. The file's mtime is polled
 * (`fs.watchFile`, default every 1000 ms).
 */
import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { z } from 'zod';
import type { TurnLogger } from '../logger.js';

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
  secrets: UsersFileSecret[];
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
 * @throws Error (SyntaxError from JSON or a zod message) when malformed.
 */
export function parseUsersFile(text: string): UsersFile {
  const parsed = UsersFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data as UsersFile;
}

/**
 * Read a users file.
 * @returns the contents, or an empty file when it does not exist.
 * @throws Error when it exists but cannot be read or is malformed.
 */
export function readUsersFile(path: string): UsersFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyUsersFile();
    throw err;
  }
  return parseUsersFile(text);
}

/** Live view of a users file for one realm. Lookups use a `Map` (own entries only). */
export class UserStore {
  private users = new Map<string, Buffer>();
  private secretList: string[] = [];
  private watching = false;
  private readonly onChange = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) this.reload();
  };

  /**
   * @param path    users file path, or undefined for none.
   * @param realm   the relay's realm; users of other realms are ignored.
   * @param logger  warnings for malformed files.
   * @param pollMs  mtime poll interval, ms.
   */
  constructor(
    private readonly path: string | undefined,
    private readonly realm: string,
    private readonly logger: TurnLogger,
    private readonly pollMs = 1000,
  ) {}

  /** Load the file now and start polling it. */
  start(): void {
    this.reload();
    if (this.path && !this.watching) {
      watchFile(this.path, { interval: this.pollMs, persistent: false }, this.onChange);
      this.watching = true;
    }
  }

  /** Stop polling. */
  stop(): void {
    if (this.path && this.watching) unwatchFile(this.path, this.onChange);
    this.watching = false;
  }

  /** Re-read the file; on error keep the last good contents and log a warning. */
  reload(): void {
    if (!this.path) return;
    try {
      const file = readUsersFile(this.path);
      const users = new Map<string, Buffer>();
      for (const u of file.users) if (u.realm === this.realm) users.set(u.name, Buffer.from(u.key, 'hex'));
      this.users = users;
      this.secretList = file.secrets.map((s) => s.value);
      this.logger.info(`users file ${this.path}: ${users.size} user(s) for realm ${this.realm}, ${this.secretList.length} secret(s)`);
    } catch (err) {
      this.logger.warn(`users file ${this.path} ignored (keeping the previous contents): ${(err as Error).message}`);
    }
  }

  /** The 16-byte long-term key of a static user, or undefined. */
  userKey(name: string): Buffer | undefined {
    return this.users.get(name);
  }

  /** Number of static users for this realm. */
  get userCount(): number {
    return this.users.size;
  }

  /** Extra REST secrets from the file. */
  get secrets(): readonly string[] {
    return this.secretList;
  }
}
