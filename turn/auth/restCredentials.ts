/**
 * TURN REST credentials (draft-uberti-behave-turn-rest-00; coturn `use-auth-secret`).
 *
 * username = `<expiry unix seconds>:<user id>`
 * password = base64(HMAC-SHA1(shared secret, username))
 *
 * The web server mints these for browsers; the relay recomputes the password from the username
 * with each configured secret (several at once, so a secret can be rotated) and refuses an expired
 * username with 401.
 */
import { createHmac } from 'node:crypto';

/** A credential as handed to a browser in `RTCIceServer` form. */
export interface RestCredential {
  /** `<expiry unix seconds>:<user id>` */
  username: string;
  /** base64 HMAC-SHA1 of `username` keyed with the shared secret. */
  password: string;
  /** Seconds from now until the username expires. */
  ttl: number;
}

/**
 * Compute the REST password for a username.
 * @param secret    shared secret (UTF-8 string, as coturn's `static-auth-secret`).
 * @param username  `<expiry>:<user id>` (any string; not parsed here).
 * @returns base64 HMAC-SHA1 (28 characters).
 */
export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/**
 * Mint a credential valid for `ttlS` seconds.
 * @param secret  shared secret (the first of the configured list, i.e. the newest).
 * @param userId  opaque user id (no `:`), e.g. a random per-page id; default `'user'`.
 * @param ttlS    lifetime in seconds (> 0).
 * @param nowS    current time in unix seconds (default: now); for tests.
 * @throws RangeError when `ttlS` is not a positive integer or `userId` contains `:`.
 */
export function makeRestCredential(secret: string, userId = 'user', ttlS = 86_400, nowS = Math.floor(Date.now() / 1000)): RestCredential {
  if (!Number.isInteger(ttlS) || ttlS <= 0) throw new RangeError(`ttl must be a positive integer number of seconds, got ${ttlS}`);
  if (userId.includes(':')) throw new RangeError('user id must not contain ":"');
  const username = `${nowS + ttlS}:${userId}`;
  return { username, password: restPassword(secret, username), ttl: ttlS };
}

/**
 * Parse the expiry of a REST username.
 * @returns expiry in unix seconds, or `undefined` when the username is not `<digits>[:<anything>]`.
 */
export function restUsernameExpiry(username: string): number | undefined {
  const m = /^(\d{1,12})(?::|$)/.exec(username);
  return m ? Number(m[1]) : undefined;
}
