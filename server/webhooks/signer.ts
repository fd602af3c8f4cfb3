/**
 * Signing of webhook bodies: `X-Webhook-Signature: sha256=<hex>`, HMAC-SHA256 (RFC 2104, FIPS 180-4)
 * keyed with WEBHOOK_SECRET (its UTF-8 bytes) over the exact bytes of the request body. The body
 * carries `sentAt` (this attempt's time) and the event `id`, so a receiver that checks the signature,
 * refuses an old `sentAt` and remembers recent ids refuses replays. Verification (README.md,
 * "Webhooks") must compare in constant time.
 */
import { createHmac } from 'node:crypto';

/** The signature scheme's prefix in the header value. */
export const SIGNATURE_PREFIX = 'sha256=';

/**
 * The header value for `body`.
 * @param secret  WEBHOOK_SECRET (UTF-8).
 * @param body    the exact bytes sent (a string is taken as UTF-8).
 * @returns `sha256=` followed by 64 lowercase hex digits.
 */
export function signBody(secret: string, body: string | Buffer): string {
  return SIGNATURE_PREFIX + createHmac('sha256', secret).update(body).digest('hex');
}
