/**
 * Where room seats live, behind one small interface with two implementations:
 * - {@link MemorySeatStore} (default): the in-process {@link RoomRegistry}; every call is
 *   synchronous, so capacity is atomic on the event loop and nothing leaves the process.
 * - `RedisSeatStore` (`redisSeatStore.ts`, when `REDIS_URL` is set): seats in Redis, changed by Lua
 *   scripts (atomic across nodes), so several server nodes share rooms.
 *
 * Methods may return a value or a promise; the signaling server awaits either. `roomOf`,
 * `isSeated` and `counts` are always synchronous and describe the sockets of THIS node (the
 * message relay checks membership without a round trip).
 */
import { RoomRegistry, type FreedSeat, type JoinResult, type RoomSnapshot } from './rooms.js';

/** A value or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** Result of {@link SeatStore.disconnect}: the seat was held for the grace period, or freed at once. */
export type DisconnectResult = ({ held: boolean } & FreedSeat) | undefined;

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
  /** A held seat's grace period ended without a resume; the seat is freed (issue 6). */
  graceExpired(freed: FreedSeat): void;
  /** Redis only: a dead node's seat was reclaimed by this node (held or freed). */
  seatLost(lost: LostSeat): void;
}

/** Seat counts for metrics. */
export interface SeatCounts {
  rooms: number;
  /** Seats, connected and held. */
  seats: number;
  /** Held seats (inside their grace period). */
  held: number;
}

/** Room-seat store used by the signaling server (rules in `rooms.ts`). */
export interface SeatStore {
  readonly kind: 'memory' | 'redis';
  /** Called once by the signaling server before any other method. */
  start(events: SeatEvents): MaybePromise<void>;
  /**
   * Take a seat (rules of {@link RoomRegistry.join}). The caller has already refused a socket
   * seated in another room (via {@link roomOf}).
   * @throws (Redis) when Redis cannot be reached; nothing changed.
   */
  join(room: string, socketId: string, session?: string): MaybePromise<JoinResult>;
  /** Free the connected seat of `socketId` (explicit leave); undefined when it held none. */
  leave(socketId: string): MaybePromise<FreedSeat | undefined>;
  /** Hold (session token, `graceMs` > 0) or free the seat of a disconnected socket. */
  disconnect(socketId: string, graceMs: number): MaybePromise<DisconnectResult>;
  /** Room where a socket of this node holds a connected seat. */
  roomOf(socketId: string): string | undefined;
  /** True when the socket (of this node) holds a connected seat in `room`. */
  isSeated(room: string, socketId: string): boolean;
  /** Counts for metrics (memory: all rooms; Redis: seats of this node's sockets). */
  counts(): SeatCounts;
  /** Every room (Redis: every room of every node, read with SCAN; for the admin API). */
  snapshot(): MaybePromise<RoomSnapshot[]>;
  /** Stop timers and forget local state (server shutdown); Redis: leave the cluster. */
  close(): MaybePromise<void>;
}

/** The in-process store: a thin adapter over {@link RoomRegistry}. Synchronous throughout. */
export class MemorySeatStore implements SeatStore {
  readonly kind = 'memory' as const;
  private events: SeatEvents | undefined;

  constructor(readonly registry: RoomRegistry = new RoomRegistry()) {}

  start(events: SeatEvents): void {
    this.events = events;
  }

  join(room: string, socketId: string, session?: string): JoinResult {
    return this.registry.join(room, socketId, session);
  }

  leave(socketId: string): FreedSeat | undefined {
    return this.registry.leave(socketId);
  }

  disconnect(socketId: string, graceMs: number): DisconnectResult {
    return this.registry.disconnect(socketId, graceMs, (freed) => this.events?.graceExpired(freed));
  }

  roomOf(socketId: string): string | undefined {
    return this.registry.roomOf(socketId);
  }

  isSeated(room: string, socketId: string): boolean {
    return this.registry.isSeated(room, socketId);
  }

  counts(): SeatCounts {
    return { rooms: this.registry.roomCount, seats: this.registry.seatCount, held: this.registry.heldCount };
  }

  snapshot(): RoomSnapshot[] {
    return this.registry.snapshot();
  }

  close(): void {
    this.registry.clear();
  }
}
