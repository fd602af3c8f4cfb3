/**
 * The relay's live view of its users file (see `usersFile.ts`): static users of its realm and the
 * extra TURN REST secrets, reloaded without restart. The file's mtime is polled (`fs.watchFile`,
 * every `pollMs`); `reload()` applies a change at once (after the relay edited the file
 * itself). A missing file means no static users and no extra secrets; a malformed file keeps the
 * last good contents and logs a warning. Fixed users (coturn's `--user`, given at start) are
 * consulted when the file has no user of that name.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { TurnLogger } from '../logger.js';
import { readUsersFile } from './usersFile.js';

/** What the relay knows besides the file. */
export interface UserStoreExtras {
  /** Users fixed for the life of the relay (name + hex MD5 long-term key). */
  users?: ReadonlyArray<{ name: string; key: string }>;
  /** Use the file's TURN REST secrets (default true; false when REST credentials are off). */
  fileSecrets?: boolean;
}

/** Live view of a users file for one realm. Lookups use a `Map` (own entries only). */
export class UserStore {
  private users = new Map<string, Buffer>();
  private readonly fixed = new Map<string, Buffer>();
  private readonly fileSecrets: boolean;
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
   * @param extras  fixed users; whether the file's secrets count.
   */
  constructor(
    readonly path: string | undefined,
    readonly realm: string,
    private readonly logger: TurnLogger,
    private readonly pollMs = 250,
    extras: UserStoreExtras = {},
  ) {
    for (const u of extras.users ?? []) this.fixed.set(u.name, Buffer.from(u.key, 'hex'));
    this.fileSecrets = extras.fileSecrets ?? true;
  }

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
      this.secretList = this.fileSecrets ? file.secrets.map((s) => s.value) : [];
      this.logger.info(`users file ${this.path}: ${users.size} user(s) for realm ${this.realm}, ${this.secretList.length} secret(s)`);
    } catch (err) {
      this.logger.warn(`${(err as Error).message}; keeping the previous contents`);
    }
  }

  /** The 16-byte long-term key of a static user (the file's entry first, then a fixed user), or undefined. */
  userKey(name: string): Buffer | undefined {
    return this.users.get(name) ?? this.fixed.get(name);
  }

  /** Number of static users for this realm in the file (fixed users not counted). */
  get userCount(): number {
    return this.users.size;
  }

  /** Extra REST secrets from the file. */
  get secrets(): readonly string[] {
    return this.secretList;
  }
}
