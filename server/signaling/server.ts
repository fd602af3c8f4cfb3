/**
 * Socket.IO signaling handlers: rooms of at most two members relaying offer/answer/ICE
 * candidates. Events, argument order and payload schemas are in `contracts/signaling.ts`; seat rules are in
 * `rooms.ts`.
 *
 * Behaviour chosen here:
 * - `join(room, [options], [ack])` while seated in ANOTHER room is refused with `already-joined`
 *   (nothing changes; the client must `leave` first). Re-joining the same room answers `joined`
 *   again with the same seat.
 * - `full` is an answer, not an error: the ack (if any) is `{ok:true}` and the `full` event follows.
 * - `message(room, data)` is relayed only when the sender holds a seat in `room`, only to the
 *   other member, and as re-serialized validated data (unknown fields are dropped).
 * - Every refused request gets an `error` event `{event, code, reason, room?}` and, when the last
 *   argument is a function, the ack `{ok:false, error}`; it changes nothing and is counted.
 * - Per-socket token bucket over join/leave/message: {@link RATE_BURST} burst, {@link RATE_PER_S}/s.
 * - Seat grace period (issue 6): a member who joined with `{session}` and disconnects keeps the
 *   seat for `graceMs`; the other member gets `otherreconnecting(room, id, graceMs)`; a join with
 *   the same token within the period gets `joined(room, newId, {resumed:true, polite, members})`
 *   and the other member gets `otherjoin(room, newId)` (it is then the impolite side and should
 *   renegotiate, e.g. with an ICE restart offer). When the period ends: `bye(room, oldId)`.
 *   Members without a token get `bye` at once when the other disconnects.
 * - Seats live in a {@link SeatStore}: in-process by default ({@link MemorySeatStore}), in Redis
 *   when `REDIS_URL` is set (`redisSeatStore.ts`, with the Socket.IO Redis adapter so that
 *   `socket.to(room)` reaches the other member on another node). Store calls may be async, so
 *   each socket's events are handled one after the other (a `message` sent right after `join`
 *   is checked after the join completed); when no async call is pending (always, in-process, for
 *   `message`), an event is handled synchronously.
 * - Every signaling log line names the room (when there is one) and the socket id.
 */
import type { Server as HttpsServer } from 'node:https';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { z } from 'zod';
import type { Logger } from 'log4js';
import {
  ByeSchema,
  JoinOptionsSchema,
  MAX_MESSAGE_BYTES,
  MESSAGE_SCHEMAS,
  messageSchemaFor,
  RoomSchema,
  type Ack,
  type ClientToServerEvents,
  type MessageData,
  type ServerToClientEvents,
  type SignalingError,
} from '../../contracts/signaling.js';
import { RoomRegistry } from './rooms.js';
import { MemorySeatStore, type SeatStore } from './seatStore.js';
import { createSignalingStats, type RefusalCode, type SignalingStats } from './stats.js';
import { TokenBucket } from '../../common/tokenBucket.js';

/** Token bucket size per socket (events). */
export const RATE_BURST = 200;
/** Token bucket refill per socket, events per second. */
export const RATE_PER_S = 100;

const KNOWN_EVENTS = new Set(['join', 'leave', 'message']);

type TypedServer = Server<ClientToServerEvents, ServerToClientEvents>;
type TypedSocket = Socket<ClientToServerEvents, ServerToClientEvents>;
type AckFn = (res: Ack) => void;

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
}

/** A running signaling server. */
export interface SignalingServer {
  io: TypedServer;
  /** The in-process registry (with a Redis seat store: unused and empty; use `seats`). */
  registry: RoomRegistry;
  /** Where seats live (memory or Redis). */
  seats: SeatStore;
  /** Resolves when the seat store is started (Redis: node registered); rejects if it cannot start. */
  ready: Promise<void>;
  stats: SignalingStats;
  /** Connected sockets right now. */
  socketCount(): number;
  /**
   * Tell every client `restarting(reason)`, drop all seats and close Socket.IO (does not close
   * the HTTPS server it is attached to).
   */
  close(reason?: string): Promise<void>;
}

/** Socket.IO room name for a signaling room (prefixed so it can never equal a socket id). */
export function ioRoom(room: string): string {
  return `room:${room}`;
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Validate a `message` payload; picks the schema by `type` so the reason is precise. */
export function parseMessageData(data: unknown): { ok: true; data: MessageData } | { ok: false; reason: string } {
  if (data === 'bye') return { ok: true, data: ByeSchema.parse(data) };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, reason: `data must be an object (${Object.keys(MESSAGE_SCHEMAS).join(', ')}) or "bye", got ${describe(data)}` };
  }
  const type = (data as { type?: unknown }).type;
  const schema = messageSchemaFor(type);
  if (!schema) return { ok: false, reason: `data.type must be one of ${Object.keys(MESSAGE_SCHEMAS).map((k) => `"${k}"`).join(', ')}` };
  const r = schema.safeParse(data);
  return r.success ? { ok: true, data: r.data as MessageData } : { ok: false, reason: formatIssues(r.error) };
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
  });
  const memory = options.seats ? undefined : new MemorySeatStore();
  const seats: SeatStore = options.seats ?? memory!;
  const registry = memory?.registry ?? new RoomRegistry();
  const stats = createSignalingStats();
  /** Pending store calls per socket (only while one is in flight). */
  const queues = new Map<string, Promise<void>>();

  function refuse(socket: TypedSocket, event: string, code: RefusalCode, reason: string, room: string | undefined, ack: AckFn | undefined): void {
    stats.refused[code]++;
    // Bounded label set: unknown event names are counted as "other".
    const bucket = KNOWN_EVENTS.has(event) ? event : 'other';
    stats.refusedByEvent[bucket] = (stats.refusedByEvent[bucket] ?? 0) + 1;
    const wireCode: SignalingError['code'] = code === 'unknown-event' || code === 'internal' ? 'invalid-payload' : code;
    const error: SignalingError = { event, code: wireCode, reason };
    if (room !== undefined) error.room = room;
    logger.debug(`refused ${event} socket=${socket.id}${room !== undefined ? ` room=${room}` : ''}: ${code}: ${reason}`);
    socket.emit('error', error);
    if (ack) safeAck(ack, { ok: false, error });
  }

  function safeAck(ack: AckFn, res: Ack): void {
    try {
      ack(res);
    } catch {
      // An ack to a disconnected socket is dropped by Socket.IO; nothing else can throw here.
    }
  }

  /** Split `args` into payload arguments and a trailing ack function. */
  function splitArgs(args: unknown[]): { params: unknown[]; ack: AckFn | undefined } {
    const last = args[args.length - 1];
    if (typeof last === 'function') return { params: args.slice(0, -1), ack: last as AckFn };
    return { params: args, ack: undefined };
  }

  function parseRoom(raw: unknown): { ok: true; room: string } | { ok: false; reason: string } {
    const r = RoomSchema.safeParse(raw);
    if (r.success) return { ok: true, room: r.data };
    return { ok: false, reason: `room must be a number of 1 to 12 digits, got ${raw === undefined ? 'nothing' : describe(raw)}` };
  }

  async function onJoin(socket: TypedSocket, args: unknown[]): Promise<void> {
    const { params, ack } = splitArgs(args);
    const r = parseRoom(params[0]);
    if (!r.ok) return refuse(socket, 'join', 'invalid-room', r.reason, undefined, ack);
    const room = r.room;
    const opts = JoinOptionsSchema.optional().safeParse(params[1] ?? undefined);
    if (!opts.success) return refuse(socket, 'join', 'invalid-payload', `options: ${formatIssues(opts.error)}`, room, ack);
    const current = seats.roomOf(socket.id);
    if (current !== undefined && current !== room) {
      return refuse(socket, 'join', 'already-joined', `already in room ${current}; leave it first`, room, ack);
    }
    const result = await seats.join(room, socket.id, opts.data?.session);
    if (result.kind === 'other-room') {
      return refuse(socket, 'join', 'already-joined', `already in room ${result.room}; leave it first`, room, ack);
    }
    if (result.kind === 'full') {
      stats.full++;
      logger.info(`full room=${room} socket=${socket.id}`);
      socket.emit('full', room, socket.id);
      if (ack) safeAck(ack, { ok: true });
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
      logger.info(`seat taken over room=${room} socket=${socket.id} old=${result.evictedSocketId}`);
    }
    // Disconnected while the store answered: the queued disconnect handler frees or holds the seat.
    if (!socket.connected) return;
    socket.join(ioRoom(room));
    const info = { polite: result.seat.polite, members: result.members, ...(result.resumed ? { resumed: true } : {}) };
    if (result.rejoin) stats.rejoins++;
    else if (result.resumed) stats.resumes++;
    else stats.joins++;
    logger.info(
      `${result.rejoin ? 'rejoined' : result.resumed ? 'resumed' : 'joined'} room=${room} socket=${socket.id} members=${result.members} polite=${info.polite}`,
    );
    socket.emit('joined', room, socket.id, info);
    if (!result.rejoin && result.other?.connected) socket.to(ioRoom(room)).emit('otherjoin', room, socket.id);
    if (ack) safeAck(ack, { ok: true });
  }

  async function onLeave(socket: TypedSocket, args: unknown[]): Promise<void> {
    const { params, ack } = splitArgs(args);
    const r = parseRoom(params[0]);
    if (!r.ok) return refuse(socket, 'leave', 'invalid-room', r.reason, undefined, ack);
    const room = r.room;
    if (!seats.isSeated(room, socket.id)) return refuse(socket, 'leave', 'not-a-member', `not a member of room ${room}`, room, ack);
    await seats.leave(socket.id);
    stats.leaves++;
    logger.info(`left room=${room} socket=${socket.id}`);
    socket.to(ioRoom(room)).emit('bye', room, socket.id);
    socket.leave(ioRoom(room));
    socket.emit('leaved', room, socket.id);
    if (ack) safeAck(ack, { ok: true });
  }

  function onMessage(socket: TypedSocket, args: unknown[]): void {
    const { params, ack } = splitArgs(args);
    const r = parseRoom(params[0]);
    if (!r.ok) return refuse(socket, 'message', 'invalid-room', r.reason, undefined, ack);
    const room = r.room;
    if (!seats.isSeated(room, socket.id)) return refuse(socket, 'message', 'not-a-member', `not a member of room ${room}`, room, ack);
    const d = parseMessageData(params[1]);
    if (!d.ok) return refuse(socket, 'message', 'invalid-payload', d.reason, room, ack);
    stats.messagesRelayed++;
    if (logger.isTraceEnabled()) logger.trace(`message room=${room} socket=${socket.id} type=${typeof d.data === 'string' ? d.data : d.data.type}`);
    socket.to(ioRoom(room)).emit('message', room, d.data);
    if (ack) safeAck(ack, { ok: true });
  }

  async function onDisconnect(socket: TypedSocket, reason: string): Promise<void> {
    stats.disconnections++;
    const r = await seats.disconnect(socket.id, graceMs);
    if (!r) {
      logger.debug(`disconnected socket=${socket.id} (${reason})`);
      return;
    }
    if (r.held) {
      stats.holds++;
      logger.info(`disconnected room=${r.room} socket=${socket.id} (${reason}); seat held ${graceMs} ms`);
      io.to(ioRoom(r.room)).emit('otherreconnecting', r.room, socket.id, graceMs);
    } else {
      stats.disconnectLeaves++;
      logger.info(`disconnected room=${r.room} socket=${socket.id} (${reason}); seat freed`);
      io.to(ioRoom(r.room)).emit('bye', r.room, socket.id);
    }
  }

  /**
   * Run `task` for `socket` after the socket's pending store call (if any); synchronous when
   * nothing is pending. `onError` gets any exception or rejection.
   */
  function serialize(socket: TypedSocket, task: () => void | Promise<void>, onError: (err: unknown) => void): void {
    const id = socket.id;
    const pending = queues.get(id);
    let result: void | Promise<void>;
    if (pending) {
      result = pending.then(task);
    } else {
      try {
        result = task();
      } catch (err) {
        onError(err);
        return;
      }
      if (!(result instanceof Promise)) return;
    }
    const p: Promise<void> = result.catch(onError).finally(() => {
      if (queues.get(id) === p) queues.delete(id);
    });
    queues.set(id, p);
  }

  const started = seats.start({
    graceExpired(freed) {
      stats.graceExpired++;
      stats.disconnectLeaves++;
      logger.info(`grace period ended room=${freed.room} socket=${freed.seat.socketId}`);
      io.to(ioRoom(freed.room)).emit('bye', freed.room, freed.seat.socketId);
    },
    seatLost(lost) {
      if (lost.held) {
        stats.holds++;
        logger.info(`node of socket lost room=${lost.room} socket=${lost.socketId}; seat held ${lost.graceMs} ms`);
        io.to(ioRoom(lost.room)).emit('otherreconnecting', lost.room, lost.socketId, lost.graceMs);
      } else {
        stats.disconnectLeaves++;
        logger.info(`node of socket lost room=${lost.room} socket=${lost.socketId}; seat freed`);
        io.to(ioRoom(lost.room)).emit('bye', lost.room, lost.socketId);
      }
    },
  });
  const ready = Promise.resolve(started);

  io.on('connection', (socket) => {
    stats.connections++;
    logger.debug(`connected socket=${socket.id} from ${socket.handshake.address}`);
    const bucket = new TokenBucket(burst, refill);
    const guarded = (event: string, handler: (socket: TypedSocket, args: unknown[]) => void | Promise<void>) => {
      (socket as unknown as { on(ev: string, fn: (...args: unknown[]) => void): void }).on(event, (...args: unknown[]) => {
        if (!bucket.take()) {
          const { ack } = splitArgs(args);
          return refuse(socket, event, 'rate-limited', `more than ${refill} events/s`, undefined, ack);
        }
        serialize(
          socket,
          () => handler(socket, args),
          (err) => {
            logger.error(`internal error in ${event} socket=${socket.id}: ${(err as Error).stack ?? String(err)}`);
            const { ack } = splitArgs(args);
            refuse(socket, event, 'internal', 'internal error', undefined, ack);
          },
        );
      });
    };
    guarded('join', onJoin);
    guarded('leave', onLeave);
    guarded('message', onMessage);
    socket.onAny((event: string, ...args: unknown[]) => {
      if (KNOWN_EVENTS.has(event)) return;
      const { ack } = splitArgs(args);
      refuse(socket, String(event).slice(0, 64), 'unknown-event', `unknown event "${String(event).slice(0, 64)}"`, undefined, ack);
    });
    socket.on('disconnect', (reason) => {
      serialize(
        socket,
        () => onDisconnect(socket, reason),
        (err) => {
          stats.refused.internal++;
          logger.error(`internal error in disconnect socket=${socket.id}: ${(err as Error).stack ?? String(err)}`);
        },
      );
    });
  });

  let closing: Promise<void> | undefined;
  return {
    io,
    registry,
    seats,
    ready,
    stats,
    socketCount: () => io.engine.clientsCount,
    close: (reason = 'server shutting down') =>
      (closing ??= (async () => {
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
          const deadline = Date.now() + 3000;
          while (queues.size > 0 && Date.now() < deadline) await Promise.race([Promise.allSettled([...queues.values()]), new Promise((r) => setTimeout(r, 100))]);
          await seats.close();
          await (io.of('/').adapter as { close?: () => Promise<void> | void }).close?.();
        }
      })()),
  };
}
