/**
 * The seat rules of a signaling room and the one interface every seat store implements. Two
 * implementations follow the same rules and pass the same contract test suite
 * (`test/server/seat-store.test.ts`):
 * - `MemorySeatStore` (`memorySeatStore.ts`, default): in-process and synchronous, so capacity is
 *   atomic on the event loop and nothing leaves the process.
 * - `RedisSeatStore` (`redisSeatStore.ts`, when `REDIS_URL` is set): seats in Redis, changed by Lua
 *   scripts (atomic across nodes), so several server nodes share rooms.
 *
 * Rules (see `contracts/signaling.ts` for the wire events):
 * - A room holds at most {@link ROOM_CAPACITY} seats. A socket holds at most one connected seat in
 *   total: joining a second room while seated answers `other-room` and changes nothing (the client
 *   must `leave` first).
 * - Re-joining the room the socket already sits in is idempotent (same seat, `rejoin: true`).
 * - Polite role (perfect negotiation): a joiner who finds the other member already seated is
 *   polite; the member already there (who receives `otherjoin` and makes the offer) becomes
 *   impolite. So the two seats always have opposite roles, also after a leave + new join and after
 *   a resume (the resumed member is the joiner).
 * - Seat grace period: a seat taken with a session token is *held* when its socket disconnects
 *   (only when `graceMs` > 0); within `graceMs` a join with the same token (from a new socket)
 *   takes it back (`resumed`). When the period ends without a resume the seat is freed and the
 *   store raises {@link SeatEvents.graceExpired}. A join with the token of a seat whose socket
 *   still looks connected (the server has not noticed the drop yet) takes the seat over: the old
 *   socket is reported in `evictedSocketId`.
 * - Passcode: the join that opens a room (no seat in it, held or connected) may give a passcode
 *   verifier (`passcode.ts`; never the passcode itself); the room keeps it until it is forgotten.
 *   Any later join of that room must give the same verifier, else it answers `wrong-passcode` and
 *   changes nothing — checked before capacity, so a wrong passcode is never answered `full`. An
 *   idempotent re-join and a resume with the seat's session token need no passcode (the token is
 *   the stronger secret). A verifier given for a room already open without one is ignored.
 * - Rooms are forgotten when their last seat is freed.
 *
 * Methods may return a value or a promise; the signaling server awaits either. `roomOf`,
 * `isSeated` and `counts` are always synchronous and describe the sockets of THIS node (the
 * message relay checks membership without a round trip).
 */

/** Seats per room. */
export const ROOM_CAPACITY = 2;

/** One seat of a room. */
export interface Seat {
  /** Socket currently holding the seat (for a held seat: the socket that disconnected). */
  socketId: string;
  /** Perfect-negotiation role of this member. */
  polite: boolean;
  /** Unix ms when the seat was first taken. */
  joinedAt: number;
  /** False while the seat is held for a disconnected member. */
  connected: boolean;
  /** Unix ms when a held seat is released (only while `connected` is false). */
  heldUntil?: number;
}

/** Result of {@link SeatStore.join}. */
export type JoinResult =
  /** Seated (new seat, resumed seat, or idempotent re-join). `other` is the other seat, if any. */
  | { kind: 'joined'; seat: Seat; members: number; resumed: boolean; rejoin: boolean; other?: Seat; evictedSocketId?: string; passcode: boolean }
  /** The room has a passcode and the join gave another one or none; nothing changed. */
  | { kind: 'wrong-passcode' }
  /** The room already has two seats. */
  | { kind: 'full'; members: number }
  /** The socket already sits in another room. */
  | { kind: 'other-room'; room: string };

/** Result of freeing a seat: the room, the freed seat and the remaining seat, if any. */
export interface FreedSeat {
  room: string;
  seat: Seat;
  other?: Seat;
}

/** Result of {@link SeatStore.disconnect}: the seat was held for the grace period, or freed at once. */
export type DisconnectResult = ({ held: boolean } & FreedSeat) | undefined;

/** Read-only view of a room, for the admin API (session tokens never appear). */
export interface RoomSnapshot {
  room: string;
  members: Array<{ socketId: string; polite: boolean; connected: boolean; joinedAt: number; heldUntil?: number }>;
}

/** A seat lost without its socket's own disconnect being seen (its node died). */
export interface LostSeat {
  room: string;
  /** Socket that held the seat (on the dead node). */
  socketId: string;
  /** True: held for `graceMs` (session token); false: freed now. */
  held: boolean;
  /** Grace period given, ms (0 when freed). */
  graceMs: number;
}

/** Events a store raises on its own (timers, other nodes). */
export interface SeatEvents {
  /** A held seat's grace period ended without a resume; the seat is freed. */
  graceExpired(freed: FreedSeat): void;
  /** Redis only: a dead node's seat was reclaimed by this node (held or freed). */
  seatLost(lost: LostSeat): void;
}

/** Seat counts for metrics. */
export interface SeatCounts {
  /** Rooms with at least one seat (connected or held). */
  rooms: number;
  /** Seats, connected and held. */
  seats: number;
  /** Held seats (inside their grace period). */
  held: number;
}

/** A value or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** Room-seat store used by the signaling server (rules above). */
export interface SeatStore {
  readonly kind: 'memory' | 'redis';
  /** Called once by the signaling server before any other method. */
  start(events: SeatEvents): MaybePromise<void>;
  /**
   * Take a seat in `room` for `socketId`.
   * @param session  optional per-tab session token (validated by the caller; never stored in clear by Redis).
   * @param passcode optional passcode verifier (hex, from `passcodeVerifier`), never the passcode itself.
   * @throws (Redis) when Redis cannot be reached; nothing changed.
   */
  join(room: string, socketId: string, session?: string, passcode?: string): MaybePromise<JoinResult>;
  /** Free the connected seat of `socketId` (explicit leave); undefined when it held none. */
  leave(socketId: string): MaybePromise<FreedSeat | undefined>;
  /** Hold (session token, `graceMs` > 0) or free the seat of a disconnected socket; undefined when it held none. */
  disconnect(socketId: string, graceMs: number): MaybePromise<DisconnectResult>;
  /** Room where a socket of this node holds a connected seat. */
  roomOf(socketId: string): string | undefined;
  /** True when the socket (of this node) holds a connected seat in `room`. */
  isSeated(room: string, socketId: string): boolean;
  /** Counts for metrics (memory: all rooms; Redis: rooms and seats of this node's sockets and holds). */
  counts(): SeatCounts;
  /** Every room (Redis: every room of every node, read with SCAN; for the admin API). */
  snapshot(): MaybePromise<RoomSnapshot[]>;
  /** Stop timers and forget local state (server shutdown); Redis: leave the cluster. */
  close(): MaybePromise<void>;
}
