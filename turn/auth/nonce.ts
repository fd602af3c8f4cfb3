/**
 * Stateless nonces for long-term credentials (RFC 8489 §9.2.3, §9.2.4).
 *
 * nonce = `<issue time, unix ms, hex>` + "-" + base64url(HMAC-SHA256(serverKey, time ‖ client IP))[0..22]
 *
 * Nothing is stored per request: a nonce is valid when its MAC matches (it was issued by this relay
 * process for this client IP) and it is younger than the nonce lifetime. An expired or foreign
 * nonce gets 438 Stale Nonce with a fresh one. The server key is random per process, so a restart
 * makes clients fetch a new nonce (one extra round trip).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Outcome of {@link NonceManager.check}. */
export type NonceCheck = 'valid' | 'expired' | 'invalid';

const MAC_CHARS = 22;

/** Issues and checks stateless nonces. */
export class NonceManager {
  private readonly key: Buffer;

  /**
   * @param lifetimeS  how long a nonce is valid, seconds (> 0).
   * @param key        HMAC key (default 32 random bytes).
   */
  constructor(
    private readonly lifetimeS: number,
    key: Buffer = randomBytes(32),
  ) {
    if (!(lifetimeS > 0)) throw new RangeError(`nonce lifetime must be > 0 s, got ${lifetimeS}`);
    this.key = key;
  }

  private mac(timeHex: string, clientIp: string): string {
    return createHmac('sha256', this.key).update(`${timeHex}|${clientIp}`).digest('base64url').slice(0, MAC_CHARS);
  }

  /**
   * A new nonce for `clientIp`.
   * @param nowMs current time, unix ms (default now).
   * @returns ASCII string of about 35 characters (well under the 128-character limit of §14.10).
   */
  issue(clientIp: string, nowMs = Date.now()): string {
    const t = Math.floor(nowMs).toString(16);
    return `${t}-${this.mac(t, clientIp)}`;
  }

  /**
   * Check a nonce received from `clientIp`.
   * @returns 'valid'; 'expired' when older than the lifetime (or from the future); 'invalid' when not issued here.
   */
  check(nonce: string, clientIp: string, nowMs = Date.now()): NonceCheck {
    const dash = nonce.indexOf('-');
    if (dash <= 0 || dash > 13 || nonce.length !== dash + 1 + MAC_CHARS) return 'invalid';
    const t = nonce.slice(0, dash);
    if (!/^[0-9a-f]+$/.test(t)) return 'invalid';
    const expected = Buffer.from(this.mac(t, clientIp));
    const got = Buffer.from(nonce.slice(dash + 1));
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return 'invalid';
    const issued = parseInt(t, 16);
    const age = nowMs - issued;
    if (age < -5_000 || age > this.lifetimeS * 1000) return 'expired';
    return 'valid';
  }
}
