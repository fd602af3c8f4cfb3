/**
 * What the signaling server tells an optional listener about rooms (`SignalingOptions.onRoomEvent`):
 * seats taken and freed, `full` answers and refused requests, each once, on the node that saw it.
 * The listener is called synchronously after the server has answered the socket; it must be cheap
 * and must not throw (an exception is logged and ignored: signaling never depends on it). Session
 * tokens never appear; seats are copied.
 */
import type { SignalingError } from '../../contracts/signaling.js';
import type { Seat } from './seatStore.js';

/** A seat as reported to listeners (no session token). */
export type SeatView = Pick<Seat, 'socketId' | 'polite' | 'joinedAt' | 'connected'>;

/** Why a seat was freed: explicit `leave`, a `disconnect` without grace period, a held seat's `grace-expired`, or `node-lost` (REDIS_URL: the socket's node died). */
export type SeatFreedReason = 'leave' | 'disconnect' | 'grace-expired' | 'node-lost';

/** A room event. */
export type RoomEvent =
  /** A seat was taken (new, or a held seat `resumed`); idempotent re-joins are not reported. */
  | { kind: 'join'; room: string; socketId: string; seat: SeatView; other?: SeatView; members: number; resumed: boolean }
  /** A seat was freed; `seat`/`other` are unknown for `node-lost`. */
  | { kind: 'leave'; room: string; socketId: string; reason: SeatFreedReason; seat?: SeatView; other?: SeatView }
  /** A join was answered with `full`. */
  | { kind: 'full'; room: string; socketId: string; members: number }
  /** A request was refused with an `error` event carrying `code` (`room` only when it was a valid room number). */
  | { kind: 'refused'; event: string; code: SignalingError['code']; room?: string; socketId: string };

/** Receives {@link RoomEvent}s (see the module comment). */
export type RoomEventListener = (event: RoomEvent) => void;

/** A copy of a seat without private fields. */
export function seatView(s: Seat): SeatView {
  return { socketId: s.socketId, polite: s.polite, joinedAt: s.joinedAt, connected: s.connected };
}
