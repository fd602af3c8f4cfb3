/**
 * Counters of the signaling server, read by `/metrics`. Plain numbers (monotonic counters), so
 * counting costs nothing on the hot path.
 */
import type { SignalingError } from '../../contracts/signaling.js';

/**
 * Why a request was refused, as counted: the wire codes, plus `unknown-event` and `internal` (sent
 * as `invalid-payload`) and `join-rate-limited` (the per-address join limit, sent as `rate-limited`).
 */
export type RefusalCode = SignalingError['code'] | 'unknown-event' | 'internal' | 'join-rate-limited';

/** Signaling counters (events since start). */
export interface SignalingCounters {
  /** Sockets ever connected. */
  connections: number;
  /** Sockets ever disconnected. */
  disconnections: number;
  /** Successful joins (new seats), resumes and idempotent re-joins counted separately. */
  joins: number;
  resumes: number;
  rejoins: number;
  /** Joins answered with `full`. */
  full: number;
  /** Explicit leaves. */
  leaves: number;
  /** Seats freed because the socket disconnected (at once, or when its grace period ended). */
  disconnectLeaves: number;
  /** Seats held for a grace period. */
  holds: number;
  /** Grace periods that ended without a resume. */
  graceExpired: number;
  /** `message` events relayed to the other member. */
  messagesRelayed: number;
  /** Refused requests by reason (`invalid-room`, `invalid-payload`, `not-a-member`, ...). */
  refused: Record<RefusalCode, number>;
  /** Refused requests by event name (`join`, `leave`, `message`, `other` for unknown events). */
  refusedByEvent: Record<string, number>;
}

/** A zeroed {@link SignalingCounters}. */
export function createSignalingCounters(): SignalingCounters {
  return {
    connections: 0,
    disconnections: 0,
    joins: 0,
    resumes: 0,
    rejoins: 0,
    full: 0,
    leaves: 0,
    disconnectLeaves: 0,
    holds: 0,
    graceExpired: 0,
    messagesRelayed: 0,
    refused: {
      'invalid-room': 0,
      'invalid-payload': 0,
      'not-a-member': 0,
      'already-joined': 0,
      'rate-limited': 0,
      'join-rate-limited': 0,
      'wrong-passcode': 0,
      'server-shutdown': 0,
      'unknown-event': 0,
      internal: 0,
    },
    refusedByEvent: {},
  };
}
