/**
 * Permissions of one allocation (RFC 8656 §9): keyed by peer IP address only (the port is
 * ignored), each with an expiry time. Expired entries are removed by {@link Permissions.sweep}, so
 * the hot path does a single Map lookup and never reads the clock.
 */
export class Permissions {
  /** Peer IP text → expiry, unix ms. */
  private readonly byIp = new Map<string, number>();

  /** Install or refresh the permission for `ip` until `expiresAtMs`. */
  install(ip: string, expiresAtMs: number): void {
    this.byIp.set(ip, expiresAtMs);
  }

  /** Whether a (not yet swept) permission exists for `ip`. */
  has(ip: string): boolean {
    return this.byIp.has(ip);
  }

  /** Remove permissions that expired at or before `nowMs`. @returns how many were removed. */
  sweep(nowMs: number): number {
    let n = 0;
    for (const [ip, exp] of this.byIp) {
      if (exp <= nowMs) {
        this.byIp.delete(ip);
        n++;
      }
    }
    return n;
  }

  /** Number of permissions. */
  get size(): number {
    return this.byIp.size;
  }

  /** `[ip, expiresAtMs]` pairs, for admin listings. */
  entries(): Array<[string, number]> {
    return [...this.byIp];
  }
}
