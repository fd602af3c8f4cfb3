/**
 * What a STUN/TURN method handler gets: the relay's shared services ({@link RelayServices}) and,
 * per message, a {@link RequestContext} — the client five-tuple, the decoded message, the result of
 * the long-term credential check, and helpers that encode, count and send the answer.
 */
import type { Allocation } from '../allocation/allocation.js';
import type { AllocationManager } from '../allocation/manager.js';
import { authenticate, type AuthResult, type CredentialSources } from '../auth/longTermCredentials.js';
import type { NonceManager } from '../auth/nonce.js';
import type { KeyedRateLimiter } from '../../common/tokenBucket.js';
import type { RelayCounters } from '../counters.js';
import type { DataPath } from '../dataPath.js';
import type { TurnLogger } from '../logger.js';
import type { ResolvedTurnOptions } from '../options.js';
import type { PeerAddressPolicy } from '../policy/peerAddress.js';
import { Attr, AttributeType, isComprehensionRequired, type OutgoingAttribute } from '../stun/attributes.js';
import { StunClass, StunMethod, encodeMessage, type StunMessage } from '../stun/message.js';
import type { ClientConnection } from '../transport/connection.js';

/** A successful long-term credential check. */
export type AuthOk = Extract<AuthResult, { ok: true }>;

/** The relay's state and services shared by every handler (one object per relay). */
export interface RelayServices {
  readonly options: ResolvedTurnOptions;
  readonly log: TurnLogger;
  readonly counters: RelayCounters;
  readonly manager: AllocationManager;
  readonly dataPath: DataPath;
  readonly nonces: NonceManager;
  readonly credentials: CredentialSources;
  /** Per-source-IP budget for unauthenticated requests. */
  readonly limiter: KeyedRateLimiter;
  /** Peer-address policy; replaced by `start()` once the relay's own addresses are known. */
  policy: PeerAddressPolicy;
  /** Five-tuples (connection label) with an Allocate in progress → its transaction id (hex). */
  readonly pendingAllocate: Map<string, string>;
  /** Whether the relay is running (not starting or stopping). */
  isRunning(): boolean;
  /** Keep `work` until it settles (`stop()` waits for it); a rejection counts as an internal error. */
  track(work: Promise<void>): void;
  /** An allocation was created and answered, granted `lifetimeS` seconds (notifies `allocationEvents`). */
  allocationStarted(allocation: Allocation, lifetimeS: number): void;
}

/**
 * Comprehension-required attributes this relay understands (RFC 8489 §14, RFC 8656 §18); others get
 * 420, and a Send indication carrying one is dropped. The one list: the native data path gets it
 * when it is created.
 */
export const KNOWN_REQUIRED: ReadonlySet<number> = new Set<number>([
  AttributeType.MAPPED_ADDRESS,
  AttributeType.USERNAME,
  AttributeType.MESSAGE_INTEGRITY,
  AttributeType.ERROR_CODE,
  AttributeType.UNKNOWN_ATTRIBUTES,
  AttributeType.CHANNEL_NUMBER,
  AttributeType.LIFETIME,
  AttributeType.XOR_PEER_ADDRESS,
  AttributeType.DATA,
  AttributeType.REALM,
  AttributeType.NONCE,
  AttributeType.XOR_RELAYED_ADDRESS,
  AttributeType.REQUESTED_ADDRESS_FAMILY,
  AttributeType.EVEN_PORT,
  AttributeType.REQUESTED_TRANSPORT,
  AttributeType.DONT_FRAGMENT,
  AttributeType.MESSAGE_INTEGRITY_SHA256,
  AttributeType.PASSWORD_ALGORITHM,
  AttributeType.USERHASH,
  AttributeType.XOR_MAPPED_ADDRESS,
  AttributeType.RESERVATION_TOKEN,
  AttributeType.PRIORITY,
  AttributeType.USE_CANDIDATE,
  AttributeType.PADDING,
  AttributeType.RESPONSE_PORT,
]);

/** One received request or indication and the means to answer it. */
export class RequestContext {
  /** Set by a successful {@link authenticate}; answers are then signed with the requester's key. */
  auth: AuthOk | undefined;

  constructor(
    readonly relay: RelayServices,
    /** The client five-tuple the message arrived on. */
    readonly conn: ClientConnection,
    readonly msg: StunMessage,
  ) {}

  /**
   * Send a success response (always FINGERPRINT; MESSAGE-INTEGRITY when authenticated; SOFTWARE when configured).
   * @returns the encoded response (Allocate keeps it for retransmissions).
   */
  success(attributes: OutgoingAttribute[] = []): Buffer {
    this.relay.counters.successResponses++;
    return this.respond(StunClass.SuccessResponse, attributes);
  }

  /**
   * Send an error response with ERROR-CODE `code` (RFC 8489 §14.8), counted by code.
   * @param reason  reason phrase; default the standard one for `code`.
   * @param extra   more attributes (e.g. UNKNOWN-ATTRIBUTES, REALM, NONCE).
   */
  error(code: number, reason?: string, extra: OutgoingAttribute[] = []): void {
    this.relay.counters.errorResponse(code);
    this.respond(StunClass.ErrorResponse, [Attr.errorCode(code, reason), ...extra]);
  }

  private respond(cls: 2 | 3, attributes: OutgoingAttribute[]): Buffer {
    const { software } = this.relay.options;
    if (software) attributes.push(Attr.software(software));
    const buf = encodeMessage(
      { method: this.msg.method, cls, transactionId: this.msg.transactionId, attributes },
      { integrityKey: this.auth?.key, integritySha256: this.auth?.algorithm === 'sha256', fingerprint: true },
    );
    this.conn.send(buf);
    return buf;
  }

  /**
   * Take one unit of the source IP's budget for unauthenticated work.
   * @returns false (and counts `rate_limited`) when the budget is spent: drop the message silently.
   */
  withinUnauthenticatedBudget(): boolean {
    if (this.relay.limiter.take(this.conn.remote.address)) return true;
    this.relay.counters.drop('rate_limited');
    return false;
  }

  /** Comprehension-required attribute types of the message this relay does not understand (RFC 8489 §7.3.1 → 420). */
  unknownRequired(): number[] {
    const out: number[] = [];
    for (const a of this.msg.attributes) if (isComprehensionRequired(a.type) && !KNOWN_REQUIRED.has(a.type) && !out.includes(a.type)) out.push(a.type);
    return out;
  }

  /**
   * The long-term credential check (RFC 8489 §9.2.4). On success sets {@link auth}; on failure
   * answers 400, or 401/438 with REALM and a fresh NONCE (within the unauthenticated budget).
   * @returns whether the request is authenticated.
   */
  authenticate(): boolean {
    const { relay, conn, msg } = this;
    // An allocation's own requests keep working after its REST username's timestamp passed (see authenticate()).
    const allocation = msg.method === StunMethod.Allocate ? undefined : conn.getAllocation();
    const res = authenticate(msg, relay.credentials, relay.nonces, conn.remote.address, Date.now(), allocation?.username);
    if (res.ok) {
      relay.counters.authSuccess++;
      this.auth = res;
      return true;
    }
    // The first 401 (no credentials yet) is a normal part of the exchange; count only real failures.
    if (res.reason !== 'no_credentials') relay.counters.authFailure(res.reason);
    if (!this.withinUnauthenticatedBudget()) return false;
    if (res.code === 400) this.error(400, 'USERNAME, REALM and NONCE are required with MESSAGE-INTEGRITY');
    else this.error(res.code, undefined, [Attr.realm(relay.options.realm), Attr.nonce(relay.nonces.issue(conn.remote.address))]);
    return false;
  }

  /**
   * The requester's allocation (RFC 8656 §7.3, §9.2, §11.2), or undefined after answering 437 (none
   * on this five-tuple) or 441 (it belongs to another username).
   */
  ownedAllocation(): Allocation | undefined {
    const a = this.conn.getAllocation();
    if (!a) {
      this.error(437);
      return undefined;
    }
    if (a.username !== this.auth?.username) {
      this.relay.counters.authFailure('wrong_credentials');
      this.error(441);
      return undefined;
    }
    return a;
  }
}
