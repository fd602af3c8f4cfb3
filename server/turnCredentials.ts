/**
 * Who gets TURN REST credentials, and under which name.
 *
 * - A seated member of a room: with `joined` and on renewal (`ice-servers` over signaling). The
 *   REST username is `<expiry>:<seat user id>`, where the seat user id ({@link seatUserId}) is
 *   `<room>-<16 base64url chars>` derived from the room and the member's session token (else its
 *   socket id): the same person keeps the same id across renewals, reloads and resumes, the token
 *   itself cannot be read back from it, and the admin API can end that seat's allocations by it.
 * - A tester of `GET /api/ice-servers` holding `ICE_TOKEN` (a bearer token; never the client's
 *   address, which behind the documented reverse proxy is always loopback): user id `tester-<12 hex>`.
 *
 * Counts what it hands out (by channel) and what it refuses (by reason) for `/metrics`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IceServersRefusal, IceServersResponse } from '../contracts/http.js';

/** How credentials were handed out: with `joined`, renewed over signaling, or over HTTP to a tester. */
export type CredentialChannel = 'joined' | 'renewal' | 'http';
/** Why credentials were refused: not seated in the room (signaling), or one of the HTTP refusals. */
export type CredentialRefusal = 'not-a-member' | IceServersRefusal;

/** Counters read by `/metrics`. */
export interface CredentialCounters {
  issued: Record<CredentialChannel, number>;
  refused: Record<CredentialRefusal, number>;
}

/**
 * The TURN REST user id of a seat: `<room>-<first 16 base64url chars of SHA-256(room, key)>`.
 * @param room  the room number (digits).
 * @param key   the member's session token, else its socket id.
 */
export function seatUserId(room: string, key: string): string {
  return `${room}-${createHash('sha256').update(`${room}\n${key}`).digest('base64url').slice(0, 16)}`;
}

/** A user id a REST username may carry after `<expiry>:` (what the admin API accepts). */
export const REST_USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Mints credentials for members and testers; see the module comment. */
export class TurnCredentials {
  readonly counters: CredentialCounters = {
    issued: { joined: 0, renewal: 0, http: 0 },
    refused: { 'not-a-member': 0, 'ice-token-unset': 0, 'token-required': 0, 'wrong-token': 0 },
  };

  /**
   * @param build     ICE servers for a page host with credentials for `userId` (`buildIceServers` with the live secret and relay ports).
   * @param iceToken  `ICE_TOKEN`; undefined: `GET /api/ice-servers` serves nobody.
   */
  constructor(
    private readonly build: (requestHost: string, userId: string) => IceServersResponse,
    private readonly iceToken: string | undefined,
  ) {}

  /** Credentials for the member of `room` identified by `seatKey` (session token or socket id). */
  forSeat(room: string, seatKey: string, requestHost: string, via: 'joined' | 'renewal'): IceServersResponse {
    const res = this.build(requestHost, seatUserId(room, seatKey));
    this.counters.issued[via]++;
    return res;
  }

  /** Count a refusal (signaling refuses `ice-servers` to non-members itself). */
  refused(reason: CredentialRefusal): void {
    this.counters.refused[reason]++;
  }

  /**
   * Check a tester's `Authorization` header against `ICE_TOKEN` (constant time).
   * @returns undefined when it may have credentials, else the refusal (counted).
   */
  checkTester(authorization: string | undefined): IceServersRefusal | undefined {
    let refusal: IceServersRefusal | undefined;
    if (this.iceToken === undefined) refusal = 'ice-token-unset';
    else {
      const m = typeof authorization === 'string' ? /^Bearer\s+(\S{1,512})\s*$/i.exec(authorization) : null;
      if (!m) refusal = 'token-required';
      else if (!timingSafeEqual(digest(m[1]!), digest(this.iceToken))) refusal = 'wrong-token';
    }
    if (refusal) this.refused(refusal);
    return refusal;
  }

  /** Credentials for a tester who passed {@link checkTester}. */
  forTester(requestHost: string): IceServersResponse {
    const res = this.build(requestHost, `tester-${randomBytes(6).toString('hex')}`);
    this.counters.issued.http++;
    return res;
  }
}
