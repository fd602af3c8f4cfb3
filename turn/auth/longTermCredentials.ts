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
 * @param acceptExpired  also give the REST keys of an expired username: the request is on an
 *   allocation created with this very username (see {@link authenticate}).
 * @returns keys and whether a REST username was expired.
 */
export function candidateKeys(username: string, sources: CredentialSources, nowS = Math.floor(Date.now() / 1000), acceptExpired = false): { keys: Buffer[]; expired: boolean } {
  const keys: Buffer[] = [];
  const staticKey = sources.users?.userKey(username);
  if (staticKey) keys.push(staticKey);
  let expired = false;
  const expiry = restUsernameExpiry(username);
  if (expiry !== undefined) {
    if (expiry < nowS) expired = true;
    if (!expired || acceptExpired) for (const secret of sources.secrets()) keys.push(longTermKey(username, sources.realm, restPassword(secret, username)));
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
 *
 * The REST expiry is checked when an allocation is created, not for the rest of its life: a request
 * whose USERNAME equals `allocationUsername` (the username the requester's allocation was created
 * with — Refresh, CreatePermission, ChannelBind on it) is verified with that username's keys even
 * after its timestamp has passed, as coturn does (it keeps the session's key once the Allocate
 * succeeded and does not look the user up again). RFC 8656 §7.3, §9.2, §11.2 ask only that these
 * requests use the same credentials as the Allocate (441 otherwise), and browsers keep refreshing
 * with the credentials they allocated with. A removed secret still stops them (keys come from the
 * current secret set), and the admin API can end the allocation.
 * @param clientIp source IP of the request (nonces are bound to it).
 * @param allocationUsername username of the allocation on the request's five-tuple, if any (not for Allocate).
 */
export function authenticate(msg: StunMessage, sources: CredentialSources, nonces: NonceManager, clientIp: string, nowMs = Date.now(), allocationUsername?: string): AuthResult {
  if (!msg.has(AttributeType.MESSAGE_INTEGRITY) && !msg.has(AttributeType.MESSAGE_INTEGRITY_SHA256)) return { ok: false, code: 401, reason: 'no_credentials' };
  const username = msg.getString(AttributeType.USERNAME);
  const realm = msg.getString(AttributeType.REALM);
  const nonce = msg.getString(AttributeType.NONCE);
  if (username === undefined || realm === undefined || nonce === undefined) return { ok: false, code: 400, reason: 'missing_attribute' };
  const nonceState = nonces.check(nonce, clientIp, nowMs);
  if (nonceState !== 'valid') return { ok: false, code: 438, reason: nonceState === 'expired' ? 'stale_nonce' : 'bad_nonce' };
  if (realm !== sources.realm) return { ok: false, code: 401, reason: 'wrong_realm' };
  const { keys, expired } = candidateKeys(username, sources, Math.floor(nowMs / 1000), allocationUsername === username);
  if (keys.length === 0) return { ok: false, code: 401, reason: expired ? 'expired_credentials' : 'unknown_user' };
  for (const key of keys) {
    const algorithm = msg.verifyIntegrity(key);
    if (algorithm) return { ok: true, username, key, algorithm };
  }
  return { ok: false, code: 401, reason: 'bad_integrity' };
}
