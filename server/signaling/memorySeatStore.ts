/**
 * The in-process {@link SeatStore} (the default, without `REDIS_URL`): who holds which seat of which
 * room, in two maps. Every method is synchronous, so capacity is atomic: Socket.IO handlers run one
 * at a time on the event loop, and of N sockets that join the same room "at once" exactly
 * {@link ROOM_CAPACITY} are seated. The rules are those of `seatStore.ts`.
 */
import { verifiersMatch } from './passcode.js';
import {
  ROOM_CAPACITY,
  type DisconnectResult,
  type FreedSeat,
  type JoinResult,
  type RoomSnapshot,
  type Seat,
  type SeatCounts,
  type SeatEvents,
  type SeatStore,
} from './seatStore.js';

/** A seat as kept in memory: the public fields plus the session token and the grace timer. */
interface MemorySeat extends Seat {
  /** Session token given at join, if any (never logged or exposed). */
  session?: string;
  /** Timer releasing a held seat. */
  graceTimer?: NodeJS.Timeout;
}

/** In-process seats. Never throws on unknown ids. */
export class MemorySeatStore implements SeatStore {
  readonly kind = 'memory' as const;
  private events: SeatEvents | undefined;
  private readonly rooms = new Map<string, MemorySeat[]>();
  /** Passcode verifier of each protected room (forgotten with the room). */
  private readonly passcodes = new Map<string, string>();
  /** Sockets with a connected seat → room. */
  private readonly roomOfSocket = new Map<string, string>();

  start(events: SeatEvents): void {
    this.events = events;
  }

  /**
   * Take a seat (rules in `seatStore.ts`).
   * @param passcode passcode verifier (see `passcode.ts`), if the joiner gave a passcode.
   * @param now  unix ms, the seat's `joinedAt`.
   */
  join(room: string, socketId: string, session?: string, passcode?: string, now = Date.now()): JoinResult {
    const current = this.roomOfSocket.get(socketId);
    if (current !== undefined && current !== room) return { kind: 'other-room', room: current };
    const seats = this.rooms.get(room) ?? [];
    const required = this.passcodes.get(room);
    const protectedRoom = required !== undefined;
    if (current === room) {
      const seat = seats.find((s) => s.socketId === socketId)!;
      const other = seats.find((s) => s !== seat);
      return { kind: 'joined', seat, members: seats.length, resumed: false, rejoin: true, other, passcode: protectedRoom };
    }
    if (session !== undefined) {
      const mine = seats.find((s) => s.session === session);
      if (mine) {
        const evicted = mine.connected ? mine.socketId : undefined;
        if (evicted !== undefined) this.roomOfSocket.delete(evicted);
        clearGrace(mine);
        mine.socketId = socketId;
        mine.connected = true;
        this.roomOfSocket.set(socketId, room);
        const other = seats.find((s) => s !== mine);
        // The resumed member is the joiner: polite when someone is there, who becomes impolite.
        mine.polite = other !== undefined;
        if (other) other.polite = false;
        return { kind: 'joined', seat: mine, members: seats.length, resumed: true, rejoin: false, other, evictedSocketId: evicted, passcode: protectedRoom };
      }
    }
    if (required !== undefined && (passcode === undefined || !verifiersMatch(passcode, required))) return { kind: 'wrong-passcode' };
    if (seats.length >= ROOM_CAPACITY) return { kind: 'full', members: seats.length };
    // The joiner who opens the room sets its passcode (or none) for the room's lifetime.
    if (seats.length === 0 && passcode !== undefined) this.passcodes.set(room, passcode);
    const other = seats[0];
    const seat: MemorySeat = { socketId, polite: other !== undefined, joinedAt: now, connected: true };
    if (session !== undefined) seat.session = session;
    if (other) other.polite = false;
    seats.push(seat);
    this.rooms.set(room, seats);
    this.roomOfSocket.set(socketId, room);
    return { kind: 'joined', seat, members: seats.length, resumed: false, rejoin: false, other, passcode: this.passcodes.has(room) };
  }

  leave(socketId: string): FreedSeat | undefined {
    const room = this.roomOfSocket.get(socketId);
    if (room === undefined) return undefined;
    this.roomOfSocket.delete(socketId);
    return this.removeSeat(room, (s) => s.socketId === socketId);
  }

  /**
   * Hold the seat of a disconnected socket for `graceMs` (only if it was taken with a session
   * token and `graceMs` > 0), else free it.
   * @param now  unix ms (the hold's `heldUntil` is `now + graceMs`).
   */
  disconnect(socketId: string, graceMs: number, now = Date.now()): DisconnectResult {
    const room = this.roomOfSocket.get(socketId);
    if (room === undefined) return undefined;
    const seats = this.rooms.get(room)!;
    const seat = seats.find((s) => s.socketId === socketId)!;
    if (seat.session === undefined || graceMs <= 0) return { held: false, ...this.leave(socketId)! };
    this.roomOfSocket.delete(socketId);
    seat.connected = false;
    seat.heldUntil = now + graceMs;
    seat.graceTimer = setTimeout(() => {
      seat.graceTimer = undefined;
      const freed = this.removeSeat(room, (s) => s === seat);
      if (freed) this.events?.graceExpired(freed);
    }, graceMs);
    seat.graceTimer.unref();
    return { held: true, room, seat, other: seats.find((s) => s !== seat) };
  }

  roomOf(socketId: string): string | undefined {
    return this.roomOfSocket.get(socketId);
  }

  isSeated(room: string, socketId: string): boolean {
    return this.roomOfSocket.get(socketId) === room;
  }

  counts(): SeatCounts {
    let seats = 0;
    let held = 0;
    for (const list of this.rooms.values()) {
      seats += list.length;
      for (const s of list) if (!s.connected) held++;
    }
    return { rooms: this.rooms.size, seats, held };
  }

  snapshot(): RoomSnapshot[] {
    return [...this.rooms].map(([room, seats]) => ({
      room,
      members: seats.map((s) => ({ socketId: s.socketId, polite: s.polite, connected: s.connected, joinedAt: s.joinedAt, heldUntil: s.heldUntil })),
    }));
  }

  /** Cancel every grace timer and forget every room (server shutdown). */
  close(): void {
    for (const seats of this.rooms.values()) for (const s of seats) clearGrace(s);
    this.rooms.clear();
    this.passcodes.clear();
    this.roomOfSocket.clear();
  }

  private removeSeat(room: string, match: (s: MemorySeat) => boolean): FreedSeat | undefined {
    const seats = this.rooms.get(room);
    if (!seats) return undefined;
    const i = seats.findIndex(match);
    if (i < 0) return undefined;
    const seat = seats.splice(i, 1)[0]!;
    clearGrace(seat);
    if (seats.length === 0) {
      this.rooms.delete(room);
      this.passcodes.delete(room);
    }
    return { room, seat, other: seats[0] };
  }
}

function clearGrace(seat: MemorySeat): void {
  if (seat.graceTimer) clearTimeout(seat.graceTimer);
  seat.graceTimer = undefined;
  seat.heldUntil = undefined;
}
