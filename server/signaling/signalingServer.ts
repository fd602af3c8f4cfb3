/**
 * Socket.IO signaling: rooms of at most two members relaying offer/answer/ICE candidates. Events,
 * argument order and payload schemas are in `contracts/signaling.ts`; seat rules in `seatStore.ts`;
 * payload checks in `payloadChecks.ts`; event arguments and in-order handling in `socketEvents.ts`.
 *
 * Behaviour chosen here:
 * - `join(room, [options], [ack])` while seated in ANOTHER room is refused with `already-joined`
 *   (nothing changes; the client must `leave` first). Re-joining the same room answers `joined`
 *   again with the same seat.
 * - `full` is an answer, not an error: the ack (if any) is `{ok:true}` and the `full` event follows.
 * - `message(room, data)` is relayed only when the sender holds a seat in `room`, only to the
 *   other member, and as validated data (unknown fields are dropped).
 * - Every refused request gets an `error` event `{event, code, reason, room?}` and, when the last
 *   argument is a function, the ack `{ok:false, error}`; it changes nothing and is counted.
 * - Per-socket token bucket over join/leave/message: {@link RATE_BURST} burst, {@link RATE_PER_S}/s.
 * - Per-client-address token bucket over join attempts (`joinLimit`, JOIN_RATE_*; the address
 *   from `clientAddress`, i.e. X-Forwarded-For only behind a trusted proxy): over it, `join` is
 *   refused with `rate-limited` (counted as `join-rate-limited`), so room numbers cannot be tried
 *   one after another.
 * - Room passcode (`join(room, {passcode})`): the store keeps a scrypt verifier (`passcode.ts`,
 *   computed off the event loop); a join with a wrong or missing passcode is refused with
 *   `wrong-passcode` (never `full`) and changes nothing. The passcode is never logged.
 * - Seat grace period: a member who joined with `{session}` and disconnects keeps the seat for
 *   `graceMs`; the other member gets `otherreconnecting(room, id, graceMs)`; a join with the same
 *   token within the period gets `joined(room, newId, {resumed:true, polite, members})` and the
 *   other member gets `otherjoin(room, newId)` (it is then the impolite side and should
 *   renegotiate, e.g. with an ICE restart offer). When the period ends: `bye(room, oldId)`.
 *   Members without a token get `bye` at once when the other disconnects.
 * - Seats live in a {@link SeatStore}: in-process by default ({@link MemorySeatStore}), in Redis
 *   when `REDIS_URL` is set (`redisSeatStore.ts`, with the Socket.IO Redis adapter so that
 *   `socket.to(room)` reaches the other member on another node). Store calls may be async, so
 *   each socket's events are handled one after the other (a `message` sent right after `join`
 *   is checked after the join completed); when no store call is pending (always, in-process) an
 *   event is handled synchronously.
 * - Every signaling log line names the room (when there is one) and the socket id.
 * - Room events (seats taken/freed, `full`, refusals) go to the optional `onRoomEvent` listener
 *   (`roomEvents.ts`), after the socket has been answered; a throwing listener is logged, never felt.
 * - TURN credentials (with `turnCredentials`): `joined` carries `info.ice` for the seat, and
 *   `ice-servers(room, ack)` renews them for a socket seated in `room` only (else `not-a-member`).
 *   The seat is named by the session token (else the socket id) so renewals keep its REST user id.
 *
 * Memory per connection is kept small (tens of thousands of sockets per node): listeners are
 * shared functions that read their socket from `this` (no closures per socket), the per-socket
 * state is one small object in `socket.data`, and the HTTP upgrade request is dropped once the
 * Socket.IO handshake has been built from it.
 */
import type { Server as HttpsServer } from 'node:https';
import { hostFromHeader } from '../iceServers.js';
import type { TurnCredentials } from '../turnCredentials.js';
import { Server, type DefaultEventsMap, type ServerOptions, type Socket } from 'socket.io';
import type { Logger } from 'log4js';
import {
  MAX_MESSAGE_BYTES,
  type ClientToServerEvents,
  type IceServersAck,
  type IceServersInfo,
  type JoinedInfo,
  type ServerToClientEvents,
  type SignalingError,
} from '../../contracts/signaling.js';
import { KeyedRateLimiter, TokenBucket } from '../../common/tokenBucket.js';
import { MemorySeatStore } from './memorySeatStore.js';
import { passcodeVerifier } from './passcode.js';
import { checkJoinOptions, checkMessageData, checkRoom, roomRefusal } from './payloadChecks.js';
import type { DisconnectResult, FreedSeat, JoinResult, SeatStore } from './seatStore.js';
import { createSignalingCounters, type RefusalCode, type SignalingCounters } from './signalingCounters.js';
import { seatView, type RoomEvent, type RoomEventListener } from './roomEvents.js';
import { ackOf, EventRunner, param, safeAck, type AckFn, type EventHandler, type SocketState } from './socketEvents.js';

/** Token bucket size per socket (events). */
export const RATE_BURST = 200;
/** Token bucket refill per socket, events per second. */
export const RATE_PER_S = 100;

const KNOWN_EVENTS = new Set(['join', 'leave', 'message', 'ice-servers']);

type TypedServer = Server<ClientToServerEvents, ServerToClientEvents, DefaultEventsMap, SocketState>;
type TypedSocket = Socket<ClientToServerEvents, ServerToClientEvents, DefaultEventsMap, SocketState>;
type Handler = EventHandler<TypedSocket>;

/** Options of {@link createSignalingServer}. */
export interface SignalingOptions {
  /** Seat grace period for members with a session token, ms (`SEAT_GRACE_MS`; 0 disables). */
  graceMs: number;
  /** Logger (category `signaling`). */
  logger: Logger;
  /** Token bucket per socket; defaults {@link RATE_BURST} and {@link RATE_PER_S}. */
  rateBurst?: number;
  rateRefillPerS?: number;
  /** Seat store (default: a new in-process {@link MemorySeatStore}). */
  seats?: SeatStore;
  /** Socket.IO adapter (e.g. the Redis adapter for scale-out; default in-memory). */
  adapter?: ServerOptions['adapter'];
  /** Told about seats taken and freed, `full` answers and refusals (e.g. for webhooks); see `roomEvents.ts`. */
  onRoomEvent?: RoomEventListener;
  /** Join attempts per client address: bucket size and refill per second (absent or burst 0: no limit). */
  joinLimit?: { burst: number; perSecond: number };
  /** The client address of a handshake (default: the TCP peer address). */
  clientAddress?: (remote: string, headers: Record<string, string | string[] | undefined>) => string;
  /** Engine.IO handshake check (e.g. the Origin check); refused handshakes never become sockets. */
  allowRequest?: ServerOptions['allowRequest'];
  /** TURN credentials for seated members (`joined` info, `ice-servers`); none handed out without. */
  turnCredentials?: Pick<TurnCredentials, 'forSeat' | 'refused'>;
  /**
   * A seat was freed for good (leave, a disconnect without grace period, the end of a grace
   * period seen by this node): `seatKey` names it as in its TURN REST user id, so the relay
   * allocations made with its credentials can be ended. Must not throw.
   */
  seatReleased?: (room: string, seatKey: string) => void;
}

/** A running signaling server. */
export interface SignalingServer {
  io: TypedServer;
  /** Where seats live (memory or Redis); the admin API and metrics read it. */
  seats: SeatStore;
  /** Resolves when the seat store is started (Redis: node registered); rejects if it cannot start. */
  ready: Promise<void>;
  /** Event counters (read by `/metrics`). */
  counters: SignalingCounters;
  /** Connected sockets right now. */
  socketCount(): number;
  /**
   * Tell every client `restarting(reason)`, drop all seats and close Socket.IO (does not close
   * the HTTPS server it is attached to).
   */
  close(reason?: string): Promise<void>;
}

/** Socket.IO room name for a signaling room (prefixed so it can never equal a socket id). */
function ioRoom(room: string): string {
  return `room:${room}`;
}

/**
 * Attach the signaling server to an HTTPS server (Socket.IO path `/socket.io/`, client bundle at
 * `/socket.io/socket.io.js`, Socket.IO 2 clients accepted; `maxHttpBufferSize` =
 * MAX_MESSAGE_BYTES: a larger frame closes that connection only).
 * @returns handles for metrics, admin and shutdown.
 */
export function createSignalingServer(httpsServer: HttpsServer, options: SignalingOptions): SignalingServer {
  const { logger, graceMs } = options;
  const burst = options.rateBurst ?? RATE_BURST;
  const refill = options.rateRefillPerS ?? RATE_PER_S;
  const io: TypedServer = new Server(httpsServer, {
    maxHttpBufferSize: MAX_MESSAGE_BYTES,
    // Compatibility with the original course demo: its page loads /socket.io/socket.io.js from
    // the server, and older copies use a Socket.IO 2 client (Engine.IO protocol 3).
    serveClient: true,
    allowEIO3: true,
    ...(options.adapter ? { adapter: options.adapter } : {}),
    ...(options.allowRequest ? { allowRequest: options.allowRequest } : {}),
  });
  const joinLimiter = options.joinLimit && options.joinLimit.burst > 0 ? new KeyedRateLimiter(options.joinLimit.burst, options.joinLimit.perSecond) : undefined;
  // Forget the buckets of addresses that have been quiet long enough to be full again.
  const limiterSweep = joinLimiter ? setInterval(() => joinLimiter.sweep(), 60_000) : undefined;
  limiterSweep?.unref();
  const seats: SeatStore = options.seats ?? new MemorySeatStore();
  const counters = createSignalingCounters();
  const listener = options.onRoomEvent;
  /** Seats held for a grace period on this node: socket id → its room and seat key (for `seatReleased`). */
  const held = new Map<string, { room: string; seatKey: string }>();

  function released(room: string, seatKey: string | undefined): void {
    if (!options.seatReleased || seatKey === undefined) return;
    try {
      options.seatReleased(room, seatKey);
    } catch (err) {
      logger.warn(`seatReleased listener failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  /** Report a room event; the listener can neither throw into nor slow down the handler beyond its own call. */
  function notify(e: RoomEvent): void {
    if (!listener) return;
    try {
      listener(e);
    } catch (err) {
      logger.error(`room event listener failed on ${e.kind}: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  function refuse(socket: TypedSocket, event: string, code: RefusalCode, reason: string, room: string | undefined, ack: AckFn | undefined): void {
    counters.refused[code]++;
    // Bounded label set: unknown event names are counted as "other".
    const bucket = KNOWN_EVENTS.has(event) ? event : 'other';
    counters.refusedByEvent[bucket] = (counters.refusedByEvent[bucket] ?? 0) + 1;
    const wireCode: SignalingError['code'] = code === 'unknown-event' || code === 'internal' ? 'invalid-payload' : code === 'join-rate-limited' ? 'rate-limited' : code;
    const error: SignalingError = { event, code: wireCode, reason };
    if (room !== undefined) error.room = room;
    if (logger.isDebugEnabled()) logger.debug(`refused ${event} socket=${socket.id}${room !== undefined ? ` room=${room}` : ''}: ${code}: ${reason}`);
    socket.emit('error', error);
    if (ack) safeAck(ack, { ok: false, error });
    if (listener) notify(room !== undefined ? { kind: 'refused', event, code: wireCode, room, socketId: socket.id } : { kind: 'refused', event, code: wireCode, socketId: socket.id });
  }

  function onJoin(socket: TypedSocket, args: unknown[]): void | Promise<void> {
    const ack = ackOf(args);
    const raw = param(args, 0);
    const room = checkRoom(raw);
    if (room === undefined) return refuse(socket, 'join', 'invalid-room', roomRefusal(raw), undefined, ack);
    const opts = checkJoinOptions(param(args, 1));
    if (!opts.ok) return refuse(socket, 'join', 'invalid-payload', opts.reason, room, ack);
    if (joinLimiter && !joinLimiter.take(socket.data.address)) {
      if (logger.isInfoEnabled()) logger.info(`join rate limit room=${room} socket=${socket.id} address=${socket.data.address}`);
      return refuse(socket, 'join', 'join-rate-limited', 'too many join attempts from this address; wait a minute', room, ack);
    }
    const session = opts.value?.session;
    const seatKey = session ?? socket.id;
    const passcode = opts.value?.passcode || undefined;
    if (passcode !== undefined) {
      return passcodeVerifier(room, passcode)
        .then((verifier) => seats.join(room, socket.id, session, verifier))
        .then((r) => joined(socket, room, r, ack, true, seatKey));
    }
    const result = seats.join(room, socket.id, session);
    if (result instanceof Promise) return result.then((r) => joined(socket, room, r, ack, false, seatKey));
    joined(socket, room, result, ack, false, seatKey);
  }

  /** ICE servers with TURN credentials for the seat of `socket` in `room`, if the server hands any out. */
  function iceFor(socket: TypedSocket, room: string, via: 'joined' | 'renewal'): IceServersInfo | undefined {
    if (!options.turnCredentials || socket.data.seatKey === undefined) return undefined;
    const host = hostFromHeader(socket.handshake.headers.host) ?? 'localhost';
    return options.turnCredentials.forSeat(room, socket.data.seatKey, host, via);
  }

  function joined(socket: TypedSocket, room: string, result: JoinResult, ack: AckFn | undefined, gavePasscode: boolean, seatKey: string): void {
    if (result.kind === 'other-room') {
      return refuse(socket, 'join', 'already-joined', `already in room ${result.room}; leave it first`, room, ack);
    }
    if (result.kind === 'wrong-passcode') {
      if (logger.isInfoEnabled()) logger.info(`wrong passcode room=${room} socket=${socket.id} address=${socket.data.address}${gavePasscode ? '' : ' (none given)'}`);
      return refuse(socket, 'join', 'wrong-passcode', gavePasscode ? 'wrong passcode for this room' : 'this room needs a passcode', room, ack);
    }
    if (result.kind === 'full') {
      counters.full++;
      if (logger.isInfoEnabled()) logger.info(`full room=${room} socket=${socket.id}`);
      socket.emit('full', room, socket.id);
      if (ack) safeAck(ack, { ok: true });
      notify({ kind: 'full', room, socketId: socket.id, members: result.members });
      return;
    }
    if (result.evictedSocketId !== undefined) {
      // The same tab came back on a new connection before the old one timed out.
      const old = io.sockets.sockets.get(result.evictedSocketId);
      if (old) {
        old.leave(ioRoom(room));
        old.disconnect(true);
      } else if (seats.kind === 'redis') {
        // The old connection is on another node: the adapter forwards the disconnect there.
        io.in(result.evictedSocketId).disconnectSockets(true);
      }
      if (logger.isInfoEnabled()) logger.info(`seat taken over room=${room} socket=${socket.id} old=${result.evictedSocketId}`);
    }
    // Disconnected while the store answered: the queued disconnect handler frees or holds the seat.
    if (!socket.connected) return;
    void socket.join(ioRoom(room));
    if (!result.rejoin) socket.data.seatKey = seatKey;
    if (result.resumed) for (const [id, h] of held) if (h.room === room && h.seatKey === seatKey) held.delete(id);
    const polite = result.seat.polite;
    if (result.rejoin) counters.rejoins++;
    else if (result.resumed) counters.resumes++;
    else counters.joins++;
    if (logger.isInfoEnabled()) {
      logger.info(`${result.rejoin ? 'rejoined' : result.resumed ? 'resumed' : 'joined'} room=${room} socket=${socket.id} members=${result.members} polite=${polite}`);
    }
    const info: JoinedInfo = { polite, members: result.members };
    if (result.resumed) info.resumed = true;
    if (result.passcode) info.passcode = true;
    const ice = iceFor(socket, room, 'joined');
    if (ice && ice.iceServers.length > 0) info.ice = ice;
    socket.emit('joined', room, socket.id, info);
    if (!result.rejoin && result.other?.connected) socket.to(ioRoom(room)).emit('otherjoin', room, socket.id);
    if (ack) safeAck(ack, { ok: true });
    if (listener && !result.rejoin) {
      const other = result.other && seatView(result.other);
      notify({ kind: 'join', room, socketId: socket.id, seat: seatView(result.seat), other, members: result.members, resumed: result.resumed });
    }
  }

  function onLeave(socket: TypedSocket, args: unknown[]): void | Promise<void> {
    const ack = ackOf(args);
    const raw = param(args, 0);
    const room = checkRoom(raw);
    if (room === undefined) return refuse(socket, 'leave', 'invalid-room', roomRefusal(raw), undefined, ack);
    if (!seats.isSeated(room, socket.id)) return refuse(socket, 'leave', 'not-a-member', `not a member of room ${room}`, room, ack);
    const freed = seats.leave(socket.id);
    if (freed instanceof Promise) return freed.then((f) => left(socket, room, ack, f));
    left(socket, room, ack, freed);
  }

  function left(socket: TypedSocket, room: string, ack: AckFn | undefined, freed: FreedSeat | undefined): void {
    counters.leaves++;
    if (logger.isInfoEnabled()) logger.info(`left room=${room} socket=${socket.id}`);
    socket.to(ioRoom(room)).emit('bye', room, socket.id);
    void socket.leave(ioRoom(room));
    socket.emit('leaved', room, socket.id);
    if (ack) safeAck(ack, { ok: true });
    if (listener) notify(freedEvent('leave', socket.id, freed, room));
    released(room, socket.data.seatKey);
  }

  /** The `leave` room event of a freed seat (`fallbackRoom` when the store reported nothing). */
  function freedEvent(reason: 'leave' | 'disconnect' | 'grace-expired', socketId: string, freed: FreedSeat | undefined, fallbackRoom: string): RoomEvent {
    return { kind: 'leave', room: freed?.room ?? fallbackRoom, socketId, reason, seat: freed && seatView(freed.seat), other: freed?.other && seatView(freed.other) };
  }

  /** The hot path: synchronous, no store round trip (membership is known locally). */
  function onMessage(socket: TypedSocket, args: unknown[]): void {
    const raw = param(args, 0);
    const room = checkRoom(raw);
    if (room === undefined) return refuse(socket, 'message', 'invalid-room', roomRefusal(raw), undefined, ackOf(args));
    if (!seats.isSeated(room, socket.id)) return refuse(socket, 'message', 'not-a-member', `not a member of room ${room}`, room, ackOf(args));
    const d = checkMessageData(param(args, 1));
    if (!d.ok) return refuse(socket, 'message', 'invalid-payload', d.reason, room, ackOf(args));
    counters.messagesRelayed++;
    if (logger.isTraceEnabled()) logger.trace(`message room=${room} socket=${socket.id} type=${typeof d.value === 'string' ? d.value : d.value.type}`);
    socket.to(ioRoom(room)).emit('message', room, d.value);
    const ack = ackOf(args);
    if (ack) safeAck(ack, { ok: true });
  }

  /** `ice-servers(room, ack)`: fresh TURN credentials, for a member seated in `room` only. */
  function onIceServers(socket: TypedSocket, args: unknown[]): void {
    const ack = ackOf(args);
    const raw = param(args, 0);
    const room = checkRoom(raw);
    if (room === undefined) return refuse(socket, 'ice-servers', 'invalid-room', roomRefusal(raw), undefined, ack);
    if (!seats.isSeated(room, socket.id)) {
      options.turnCredentials?.refused('not-a-member');
      return refuse(socket, 'ice-servers', 'not-a-member', `not a member of room ${room}`, room, ack);
    }
    if (!ack) return refuse(socket, 'ice-servers', 'invalid-payload', 'ice-servers needs an acknowledgement callback', room, undefined);
    const ice = iceFor(socket, room, 'renewal') ?? { iceServers: [], ttl: 0 };
    try {
      (ack as unknown as (res: IceServersAck) => void)({ ok: true, ...ice });
    } catch {
      // An ack to a disconnected socket is dropped by Socket.IO.
    }
  }

  function onDisconnect(socket: TypedSocket, args: unknown[]): void | Promise<void> {
    counters.disconnections++;
    const reason = String(args[0]);
    const r = seats.disconnect(socket.id, graceMs);
    if (r instanceof Promise) return r.then((res) => disconnected(socket, reason, res));
    disconnected(socket, reason, r);
  }

  function disconnected(socket: TypedSocket, reason: string, r: DisconnectResult): void {
    if (!r) {
      if (logger.isDebugEnabled()) logger.debug(`disconnected socket=${socket.id} (${reason})`);
      return;
    }
    if (r.held) {
      counters.holds++;
      if (logger.isInfoEnabled()) logger.info(`disconnected room=${r.room} socket=${socket.id} (${reason}); seat held ${graceMs} ms`);
      io.to(ioRoom(r.room)).emit('otherreconnecting', r.room, socket.id, graceMs);
      if (socket.data.seatKey !== undefined) held.set(socket.id, { room: r.room, seatKey: socket.data.seatKey });
    } else {
      counters.disconnectLeaves++;
      if (logger.isInfoEnabled()) logger.info(`disconnected room=${r.room} socket=${socket.id} (${reason}); seat freed`);
      io.to(ioRoom(r.room)).emit('bye', r.room, socket.id);
      if (listener) notify(freedEvent('disconnect', socket.id, r, r.room));
      released(r.room, socket.data.seatKey);
    }
  }

  function failed(socket: TypedSocket, event: string, args: unknown[], err: unknown): void {
    logger.error(`internal error in ${event} socket=${socket.id}: ${(err as Error)?.stack ?? String(err)}`);
    if (event === 'disconnect') counters.refused.internal++;
    else refuse(socket, event, 'internal', 'internal error', undefined, ackOf(args));
  }

  const runner = new EventRunner<TypedSocket>(failed);

  function guarded(socket: TypedSocket, event: string, handler: Handler, args: unknown[]): void {
    if (!socket.data.bucket.take()) return refuse(socket, event, 'rate-limited', `more than ${refill} events/s`, undefined, ackOf(args));
    runner.run(socket, event, handler, args);
  }

  // Listeners shared by every socket (`this` is the socket).
  function joinListener(this: TypedSocket, ...args: unknown[]): void {
    guarded(this, 'join', onJoin, args);
  }
  function leaveListener(this: TypedSocket, ...args: unknown[]): void {
    guarded(this, 'leave', onLeave, args);
  }
  function messageListener(this: TypedSocket, ...args: unknown[]): void {
    guarded(this, 'message', onMessage, args);
  }
  function iceServersListener(this: TypedSocket, ...args: unknown[]): void {
    guarded(this, 'ice-servers', onIceServers, args);
  }
  function disconnectListener(this: TypedSocket, ...args: unknown[]): void {
    runner.run(this, 'disconnect', onDisconnect, args);
  }
  function anyListener(this: TypedSocket, event: unknown, ...args: unknown[]): void {
    if (typeof event === 'string' && KNOWN_EVENTS.has(event)) return;
    const name = String(event).slice(0, 64);
    refuse(this, name, 'unknown-event', `unknown event "${name}"`, undefined, ackOf(args));
  }

  const started = seats.start({
    graceExpired(freed: FreedSeat) {
      counters.graceExpired++;
      counters.disconnectLeaves++;
      if (logger.isInfoEnabled()) logger.info(`grace period ended room=${freed.room} socket=${freed.seat.socketId}`);
      io.to(ioRoom(freed.room)).emit('bye', freed.room, freed.seat.socketId);
      if (listener) notify(freedEvent('grace-expired', freed.seat.socketId, freed, freed.room));
      const h = held.get(freed.seat.socketId);
      held.delete(freed.seat.socketId);
      if (h) released(h.room, h.seatKey);
    },
    seatLost(lost) {
      if (lost.held) {
        counters.holds++;
        logger.info(`node of socket lost room=${lost.room} socket=${lost.socketId}; seat held ${lost.graceMs} ms`);
        io.to(ioRoom(lost.room)).emit('otherreconnecting', lost.room, lost.socketId, lost.graceMs);
      } else {
        counters.disconnectLeaves++;
        logger.info(`node of socket lost room=${lost.room} socket=${lost.socketId}; seat freed`);
        io.to(ioRoom(lost.room)).emit('bye', lost.room, lost.socketId);
        notify({ kind: 'leave', room: lost.room, socketId: lost.socketId, reason: 'node-lost' });
      }
    },
  });
  const ready = Promise.resolve(started);

  io.on('connection', (socket) => {
    counters.connections++;
    if (logger.isDebugEnabled()) logger.debug(`connected socket=${socket.id} from ${socket.handshake.address}`);
    // The handshake (headers, address, query) is built; the upgrade request would only hold memory.
    (socket.conn as { request: unknown }).request = null;
    const address = options.clientAddress ? options.clientAddress(socket.handshake.address, socket.handshake.headers) : socket.handshake.address;
    socket.data = { bucket: new TokenBucket(burst, refill), pending: undefined, address };
    const s = socket as unknown as { on(event: string, listener: (...args: unknown[]) => void): void };
    s.on('join', joinListener);
    s.on('leave', leaveListener);
    s.on('message', messageListener);
    s.on('ice-servers', iceServersListener);
    s.on('disconnect', disconnectListener);
    socket.onAny(anyListener);
  });

  let closing: Promise<void> | undefined;
  return {
    io,
    seats,
    ready,
    counters,
    socketCount: () => io.engine.clientsCount,
    close: (reason = 'server shutting down') =>
      (closing ??= (async () => {
        if (limiterSweep) clearInterval(limiterSweep);
        // `local`: with the Redis adapter a plain io.emit/disconnectSockets would reach every node.
        io.local.emit('restarting', reason);
        // In-process: the seats go away with the process. Redis: the disconnects below hold the
        // seats of members with a session token (they resume on another node) and free the others.
        if (seats.kind === 'memory') await seats.close();
        // Give the `restarting` frames a moment to leave before the sockets close. The HTTPS
        // server itself is closed by its owner (io.close() would close it too).
        await new Promise((r) => setTimeout(r, 50));
        io.local.disconnectSockets(true);
        io.engine.close();
        if (seats.kind !== 'memory') {
          // Let the queued store calls (disconnects) finish, bounded, then leave the cluster.
          await runner.settle(3000);
          await seats.close();
          await (io.of('/').adapter as { close?: () => Promise<void> | void }).close?.();
        }
      })()),
  };
}
