/**
 * The room registry: who holds which seat of which room. In-process and synchronous, so capacity
 * is atomic: Socket.IO handlers run one at a time on the event loop, and of N sockets that join
 * the same room "at once" exactly {@link ROOM_CAPACITY} are seated.
 *
 * Rules (see `contracts/signaling.ts` for the wire events):
 * - A room holds at most two seats. A socket holds at most one seat in total: joining a second
 *   room while seated is refused (`already-joined`); the client must `leave` first.
 * - Re-joining the room the socket already sits in is idempotent (same seat, no duplicate).
 * - Polite role (perfect negotiation): a joiner who finds the other member already seated is
 *   polite; the member already there (who receives `otherjoin` and makes the offer) becomes
 *   impolite. So the two seats always have opposite roles, also after a leave + new join.
 * - Seat grace period (issue 6): a seat taken with a session token is *held* when its socket
 *   disconnects; within `graceMs` a join with the same token (from a new socket) takes it back
 *   (`resumed`). A join with the token of a seat whose old socket still looks connected (the
 *   server has not noticed the drop yet) also takes the seat over: the old socket is evicted.
 *   Rooms are deleted when their last seat is freed.
 */

/** Seats per room. */
export const ROOM_CAPACITY = 2;

/** One seat of a room. */
export interface Seat {
  /** Socket currently holding the seat (for a held seat: the socket that disconnected). */
  socketId: string;
  /** Session token given at join, if any (never logged or exposed). */
  session?: string;
  /** Perfect-negotiation role of this member. */
  polite: boolean;
  /** Unix ms when the seat was first taken. */
  joinedAt: number;
  /** False while the seat is held for a disconnected member. */
  connected: boolean;
  /** Unix ms when a held seat is released (only while `connected` is false). */
  heldUntil?: number;
  /** Timer releasing a held seat. */
  graceTimer?: NodeJS.Timeout;
}

/** Result of {@link RoomRegistry.join}. */
export type JoinResult =
  /** Seated (new seat, resumed seat, or idempotent re-join). `other` is the other seat, if any. */
  | { kind: 'joined'; seat: Seat; members: number; resumed: boolean; rejoin: boolean; other?: Seat; evictedSocketId?: string }
  /** The room already has two seats. */
  | { kind: 'full'; members: number }
  /** The socket already sits in another room. */
  | { kind: 'other-room'; room: string };

/** Result of freeing a seat: the room and the remaining seat, if any. */
export interface FreedSeat {
  room: string;
  seat: Seat;
  other?: Seat;
}

/** Read-only view of a room, for the admin API and metrics. */
export interface RoomSnapshot {
  room: string;
  members: Array<{ socketId: string; polite: boolean; connected: boolean; joinedAt: number; heldUntil?: number }>;
}

/** Registry of rooms and seats. All methods are synchronous and never throw on unknown ids. */
export class RoomRegistry {
  private readonly rooms = new Map<string, Seat[]>();
  private readonly roomOfSocket = new Map<string, string>();

  /**
   * Take a seat in `room` for `socketId`.
   * @param session  optional per-tab session token (validated by the caller).
   * @param now      unix ms (for tests).
   */
  join(room: string, socketId: string, session?: string, now = Date.now()): JoinResult {
    const current = this.roomOfSocket.get(socketId);
    if (current !== undefined && current !== room) return { kind: 'other-room', room: current };
    const seats = this.rooms.get(room) ?? [];
    if (current === room) {
      const seat = seats.find((s) => s.socketId === socketId)!;
      const other = seats.find((s) => s !== seat);
      return { kind: 'joined', seat, members: seats.length, resumed: false, rejoin: true, other };
    }
    if (session !== undefined) {
      const mine = seats.find((s) => s.session === session);
      if (mine) {
        const evicted = mine.connected ? mine.socketId : undefined;
        if (evicted !== undefined) this.roomOfSocket.delete(evicted);
        this.clearGrace(mine);
        mine.socketId = socketId;
        mine.connected = true;
        this.roomOfSocket.set(socketId, room);
        const other = seats.find((s) => s !== mine);
        // The resumed member is the joiner: polite when someone is there, who becomes impolite.
        mine.polite = other !== undefined;
        if (other) other.polite = false;
        return { kind: 'joined', seat: mine, members: seats.length, resumed: true, rejoin: false, other, evictedSocketId: evicted };
      }
    }
    if (seats.length >= ROOM_CAPACITY) return { kind: 'full', members: seats.length };
    const other = seats[0];
    const seat: Seat = { socketId, session, polite: other !== undefined, joinedAt: now, connected: true };
    if (other) other.polite = false;
    seats.push(seat);
    this.rooms.set(room, seats);
    this.roomOfSocket.set(socketId, room);
    return { kind: 'joined', seat, members: seats.length, resumed: false, rejoin: false, other };
  }

  /** Room the socket sits in (connected seats only), or undefined. */
  roomOf(socketId: string): string | undefined {
    return this.roomOfSocket.get(socketId);
  }

  /** True when `socketId` holds a connected seat in `room`. */
  isSeated(room: string, socketId: string): boolean {
    return this.roomOfSocket.get(socketId) === room;
  }

  /**
   * Free the seat of `socketId` (leave, or disconnect without grace).
   * @returns the freed seat and the remaining one, or undefined when the socket held no seat.
   */
  leave(socketId: string): FreedSeat | undefined {
    const room = this.roomOfSocket.get(socketId);
    if (room === undefined) return undefined;
    this.roomOfSocket.delete(socketId);
    return this.removeSeat(room, (s) => s.socketId === socketId);
  }

  /**
   * Hold the seat of a disconnected socket for `graceMs` (only if it was taken with a session
   * token and `graceMs` > 0); `onExpire` runs when the hold ends without a resume.
   * @returns `{held: true, ...}` when the seat is held, `{held: false, ...}` when it was freed at
   *          once, undefined when the socket held no seat.
   */
  disconnect(
    socketId: string,
    graceMs: number,
    onExpire: (freed: FreedSeat) => void,
    now = Date.now(),
  ): ({ held: boolean } & FreedSeat) | undefined {
    const room = this.roomOfSocket.get(socketId);
    if (room === undefined) return undefined;
    const seats = this.rooms.get(room)!;
    const seat = seats.find((s) => s.socketId === socketId)!;
    if (seat.session === undefined || graceMs <= 0) {
      const freed = this.leave(socketId)!;
      return { held: false, ...freed };
    }
    this.roomOfSocket.delete(socketId);
    seat.connected = false;
    seat.heldUntil = now + graceMs;
    seat.graceTimer = setTimeout(() => {
      seat.graceTimer = undefined;
      const freed = this.removeSeat(room, (s) => s === seat);
      if (freed) onExpire(freed);
    }, graceMs);
    seat.graceTimer.unref();
    return { held: true, room, seat, other: seats.find((s) => s !== seat) };
  }

  /** Number of rooms with at least one seat. */
  get roomCount(): number {
    return this.rooms.size;
  }

  /** Number of seats (connected and held). */
  get seatCount(): number {
    let n = 0;
    for (const seats of this.rooms.values()) n += seats.length;
    return n;
  }

  /** Number of held seats (members inside their grace period). */
  get heldCount(): number {
    let n = 0;
    for (const seats of this.rooms.values()) for (const s of seats) if (!s.connected) n++;
    return n;
  }

  /** Snapshot of every room (session tokens left out). */
  snapshot(): RoomSnapshot[] {
    return [...this.rooms].map(([room, seats]) => ({
      room,
      members: seats.map((s) => ({ socketId: s.socketId, polite: s.polite, connected: s.connected, joinedAt: s.joinedAt, heldUntil: s.heldUntil })),
    }));
  }

  /** Cancel every grace timer and forget every room (server shutdown). */
  clear(): void {
    for (const seats of this.rooms.values()) for (const s of seats) this.clearGrace(s);
    this.rooms.clear();
    this.roomOfSocket.clear();
  }

  private clearGrace(seat: Seat): void {
    if (seat.graceTimer) clearTimeout(seat.graceTimer);
    seat.graceTimer = undefined;
    seat.heldUntil = undefined;
  }

  private removeSeat(room: string, match: (s: Seat) => boolean): FreedSeat | undefined {
    const seats = this.rooms.get(room);
    if (!seats) return undefined;
    const i = seats.findIndex(match);
    if (i < 0) return undefined;
    const [seat] = seats.splice(i, 1);
    this.clearGrace(seat!);
    if (seats.length === 0) this.rooms.delete(room);
    return { room, seat: seat!, other: seats[0] };
  }
}
