/**
 * Long-term credential mechanism on the server side (RFC 8489 §9.2.4), with two credential sources:
 * TURN REST usernames `<expiry>:<user>` checked against every shared secret, and static users.
 */
import { AttributeType } from '../stun/attributes.js';
import { longTermKey, type IntegrityAlgorithm } from '../stun/integrity.js';
import type { StunMessage } from '../stun/message.js';
import { restPassword, restUsernameExpiry } from './restCredentials.js';
import type { NonceManager } from './nonce.js';
import type { UserStore } from './userStore.js';

/** Where credentials come from. */
export interface CredentialSources {
  realm: string;
  /** Current TURN REST shared secrets (configured + users file). */
  secrets(): readonly string[];
  /** Static users (may be undefined). */
  users?: UserStore;
}

/** Result of {@link authenticate}. */
export type AuthResult =
  | { ok: true; username: string; key: Buffer; algorithm: IntegrityAlgorithm }
  | {
      ok: false;
      /** 400 (missing attributes), 401 (no or wrong credentials), 438 (stale nonce). */
      code: 400 | 401 | 438;
      /** Stats reason: no_credentials | missing_attribute | stale_nonce | bad_nonce | wrong_realm | unknown_user | expired_credentials | bad_integrity. */
      reason: string;
    };

/**
 * Candidate keys for `username` (16-byte MD5 keys): the static user's, then one per REST secret when
 * the username is a valid, unexpired REST username.
 * @returns keys and whether a REST username was expired.
 */
export function candidateKeys(username: string, sources: CredentialSources, nowS = Math.floor(Date.now() / 1000)): { keys: Buffer[]; expired: boolean } {
  const keys: Buffer[] = [];
  const staticKey = sources.users?.userKey(username);
  if (staticKey) keys.push(staticKey);
  let expired = false;
  const expiry = restUsernameExpiry(username);
  if (expiry !== undefined) {
    if (expiry < nowS) expired = true;
    else for (const secret of sources.secrets()) keys.push(longTermKey(username, sources.realm, restPassword(secret, username)));
  }
  return { keys, expired };
}

/**
 * Authenticate a request (RFC 8489 §9.2.4 steps, in order):
 * 1. no MESSAGE-INTEGRITY(-SHA256) → 401 (the caller adds REALM and NONCE);
 * 2. MESSAGE-INTEGRITY but no USERNAME, REALM or NONCE → 400;
 * 3. NONCE not valid (expired or not ours) → 438;
 * 4. REALM not ours, unknown user or expired REST username → 401;
 * 5. MESSAGE-INTEGRITY does not verify with any candidate key → 401.
 * @param clientIp source IP of the request (nonces are bound to it).
 */
export function authenticate(msg: StunMessage, sources: CredentialSources, nonces: NonceManager, clientIp: string, nowMs = Date.now()): AuthResult {
  if (!msg.has(AttributeType.MESSAGE_INTEGRITY) && !msg.has(AttributeType.MESSAGE_INTEGRITY_SHA256)) return { ok: false, code: 401, reason: 'no_credentials' };
  const username = msg.getString(AttributeType.USERNAME);
  const realm = msg.getString(AttributeType.REALM);
  const nonce = msg.getString(AttributeType.NONCE);
  if (username === undefined || realm === undefined || nonce === undefined) return { ok: false, code: 400, reason: 'missing_attribute' };
  const nonceState = nonces.check(nonce, clientIp, nowMs);
  if (nonceState !== 'valid') return { ok: false, code: 438, reason: nonceState === 'expired' ? 'stale_nonce' : 'bad_nonce' };
  if (realm !== sources.realm) return { ok: false, code: 401, reason: 'wrong_realm' };
  const { keys, expired } = candidateKeys(username, sources, Math.floor(nowMs / 1000));
  if (keys.length === 0) return { ok: false, code: 401, reason: expired ? 'expired_credentials' : 'unknown_user' };
  for (const key of keys) {
    const algorithm = msg.verifyIntegrity(key);
    if (algorithm) return { ok: true, username, key, algorithm };
  }
  return { ok: false, code: 401, reason: 'bad_integrity' };
}
