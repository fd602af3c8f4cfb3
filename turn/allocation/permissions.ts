/**
 * Permissions of one allocation (RFC 8656 §9): keyed by peer IP address only (the port is
 * ignored), each with an expiry time. Expired entries are removed by {@link Permissions.sweep}, so
 * the hot path does a single Map lookup and never reads the clock.
 */

/** One installed permission. */
export interface Permission {
  /** Expiry, unix ms. */
  expiresAt: number;
  /**
   * The peer IP is one of the relay's own addresses: data may only be relayed to relay ports there
   * (see `PeerAddressPolicy.ownPortAllowed`), checked per Send indication / at ChannelBind.
   */
  own: boolean;
}

export class Permissions {
  /** Peer IP text → permission. */
  private readonly byIp = new Map<string, Permission>();

  /** Install or refresh the permission for `ip` until `expiresAtMs`; `own` as decided by the peer policy. */
  install(ip: string, expiresAtMs: number, own = false): void {
    const p = this.byIp.get(ip);
    if (p) {
      p.expiresAt = expiresAtMs;
      p.own = own;
    } else this.byIp.set(ip, { expiresAt: expiresAtMs, own });
  }

  /** The (not yet swept) permission for `ip`, if any. */
  get(ip: string): Permission | undefined {
    return this.byIp.get(ip);
  }

  /** Whether a (not yet swept) permission exists for `ip`. */
  has(ip: string): boolean {
    return this.byIp.has(ip);
  }

  /**
   * Remove permissions that expired at or before `nowMs`.
   * @param onExpired  called with the peer IP of each removed permission.
   * @returns how many were removed.
   */
  sweep(nowMs: number, onExpired?: (ip: string) => void): number {
    let n = 0;
    for (const [ip, p] of this.byIp) {
      if (p.expiresAt <= nowMs) {
        this.byIp.delete(ip);
        onExpired?.(ip);
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
    return [...this.byIp].map(([ip, p]) => [ip, p.expiresAt]);
  }
}
