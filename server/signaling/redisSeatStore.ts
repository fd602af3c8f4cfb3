/**
 * Room seats in Redis, shared by every server node (`REDIS_URL`). Same rules as the in-process
 * store (`seatStore.ts`, `memorySeatStore.ts`; one contract test suite runs against both): two seats per room, opposite perfect-negotiation roles, seat
 * grace period with session tokens; each change is ONE Lua script, so it is atomic across nodes
 * (Redis runs a script without interleaving any other command): of N concurrent joiners on any
 * nodes exactly two are seated.
 *
 * Keys (P = `REDIS_PREFIX`):
 * - `P:room:<room>`        JSON array of at most 2 seats `{s: socketId, k?: sha256(session token),
 *                          p: polite, j: joinedAt ms, n: node id, c: connected, h?: heldUntil ms}`
 *                          (expires 7 days after its last change, as a safety net).
 * - `P:pass:<room>`        passcode verifier of a protected room (`passcode.ts`), deleted with the
 *                          room key and expiring with it.
 * - `P:held`               sorted set `room|socketId` scored by heldUntil (unix ms): held seats.
 * - `P:nodes`              set of node ids that may own seats.
 * - `P:node:<id>`          heartbeat, refreshed every TTL/3, expires after `CLUSTER_NODE_TTL_MS`.
 * - `P:nodeseats:<id>`     set of rooms where node `id` took seats (index for reclaiming).
 *
 * Failure handling:
 * - A node that dies (SIGKILL, crash, network loss) stops refreshing `P:node:<id>`. Every node
 *   checks the others at each heartbeat; the first to see the key gone (the script removes the
 *   id from `P:nodes`, so exactly one node wins) reclaims that node's connected seats: with a
 *   session token they are HELD for the grace period (the other member gets
 *   `otherreconnecting`, and the person can resume on another node with the same token); without
 *   one they are freed at once (`bye`).
 * - Held seats end in `P:held`: the node that created the hold sets a timer at heldUntil and every
 *   node sweeps at each heartbeat, so a hold ends even if its node died; the sweep pops entries
 *   atomically, so exactly one node sends `bye`.
 * - Session tokens are stored as SHA-256 hashes, never in clear.
 * Scripts touch keys they compute from the prefix, so this needs a standalone Redis (or one
 * primary), not Redis Cluster.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'log4js';
import { SCRIPTS, type Script } from './redisSeatScripts.js';
import type { DisconnectResult, FreedSeat, JoinResult, RoomSnapshot, Seat, SeatCounts, SeatEvents, SeatStore } from './seatStore.js';

/** The one client method used (node-redis `sendCommand`); makes the store testable without types gymnastics. */
export interface RedisCommander {
  sendCommand(args: string[]): Promise<unknown>;
}

/** Options of {@link RedisSeatStore}. */
export interface RedisSeatStoreOptions {
  client: RedisCommander;
  /** Key prefix without the trailing colon (`REDIS_PREFIX`). */
  prefix: string;
  /** Heartbeat key lifetime, ms (`CLUSTER_NODE_TTL_MS`); heartbeats every TTL/3. */
  nodeTtlMs: number;
  /** Grace period given to seats reclaimed from a dead node, ms (`SEAT_GRACE_MS`). */
  graceMs: number;
  logger: Logger;
  /** This node's id (default `<hostname>-<pid>-<random>`). */
  nodeId?: string;
}

/** Lifetime of a room key after its last change, ms (safety net if every node vanished). */
const ROOM_TTL_MS = 7 * 24 * 3600 * 1000;
/** Held seats expired per sweep call (the sweep repeats while it gets a full batch). */
const SWEEP_BATCH = 200;

/** A seat as stored in Redis (short names keep the JSON small). */
interface StoredSeat {
  s: string;
  k?: string;
  p: boolean;
  j: number;
  n: string;
  c: boolean;
  h?: number;
}

function toSeat(s: StoredSeat): Seat {
  return { socketId: s.s, polite: s.p, joinedAt: s.j, connected: s.c, heldUntil: s.h };
}

/** SHA-256 of a session token (hex, 32 chars): what Redis stores instead of the token. */
export function hashSession(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 32);
}

/**
 * The Redis implementation of {@link SeatStore}. `roomOf`/`isSeated`/`counts` answer from a local
 * map of this node's seated sockets (kept in step by join/leave/disconnect), so relaying a
 * `message` costs no Redis round trip.
 */
export class RedisSeatStore implements SeatStore {
  readonly kind = 'redis' as const;
  readonly nodeId: string;
  private readonly client: RedisCommander;
  private readonly p: string;
  private readonly log: Logger;
  private readonly nodeTtlMs: number;
  private readonly graceMs: number;
  private events: SeatEvents | undefined;
  /** Sockets of this node with a connected seat → room. */
  private readonly local = new Map<string, string>();
  /** Holds created by this node: `room|socketId` → timer at heldUntil. */
  private readonly holdTimers = new Map<string, NodeJS.Timeout>();
  private heartbeat: NodeJS.Timeout | undefined;
  private beating = false;
  private closed = false;
  /** Cluster counters (read by `/metrics`). */
  readonly counters = { heartbeats: 0, heartbeatErrors: 0, reclaimedNodes: 0, reclaimedSeats: 0, expired: 0 };

  constructor(options: RedisSeatStoreOptions) {
    this.client = options.client;
    this.p = `${options.prefix}:`;
    this.log = options.logger;
    this.nodeTtlMs = options.nodeTtlMs;
    this.graceMs = options.graceMs;
    this.nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  private key(kind: 'room' | 'nodeseats' | 'node' | 'pass', id: string): string {
    return `${this.p}${kind}:${id}`;
  }

  private async eval(script: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await this.client.sendCommand(['EVALSHA', script.sha, ...tail]);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return this.client.sendCommand(['EVAL', script.source, ...tail]);
    }
  }

  private async evalJson<T>(script: Script, keys: string[], args: Array<string | number>): Promise<T | undefined> {
    const r = await this.eval(script, keys, args);
    return typeof r === 'string' ? (JSON.parse(r) as T) : undefined;
  }

  /**
   * Register this node (heartbeat key + `P:nodes`) and start the heartbeat, which also reclaims
   * dead nodes' seats and sweeps held seats.
   * @throws when Redis cannot be reached.
   */
  async start(events: SeatEvents): Promise<void> {
    this.events = events;
    await this.client.sendCommand(['SET', this.key('node', this.nodeId), String(Date.now()), 'PX', String(this.nodeTtlMs)]);
    await this.client.sendCommand(['SADD', `${this.p}nodes`, this.nodeId]);
    this.log.info(`cluster node ${this.nodeId} registered (heartbeat TTL ${this.nodeTtlMs} ms)`);
    const every = Math.max(100, Math.floor(this.nodeTtlMs / 3));
    this.heartbeat = setInterval(() => void this.beat(), every);
    this.heartbeat.unref();
    void this.beat();
  }

  /** One heartbeat: refresh our key, reclaim dead nodes, sweep due held seats. Never throws. */
  private async beat(): Promise<void> {
    if (this.beating || this.closed) return;
    this.beating = true;
    try {
      const prev = await this.client.sendCommand(['SET', this.key('node', this.nodeId), String(Date.now()), 'PX', String(this.nodeTtlMs), 'GET']);
      await this.client.sendCommand(['SADD', `${this.p}nodes`, this.nodeId]);
      if (prev === null && this.counters.heartbeats > 0) {
        this.log.warn(`cluster node ${this.nodeId}: heartbeat key had expired (Redis unreachable or event loop blocked longer than ${this.nodeTtlMs} ms); other nodes may have reclaimed our seats`);
      }
      this.counters.heartbeats++;
      const nodes = (await this.client.sendCommand(['SMEMBERS', `${this.p}nodes`])) as string[];
      for (const node of nodes) {
        if (node === this.nodeId) continue;
        const alive = (await this.client.sendCommand(['EXISTS', this.key('node', node)])) as number;
        if (alive === 0) await this.reclaim(node);
      }
      await this.sweep();
    } catch (err) {
      this.counters.heartbeatErrors++;
      this.log.warn(`cluster heartbeat failed: ${(err as Error).message}`);
    } finally {
      this.beating = false;
    }
  }

  private async reclaim(node: string): Promise<void> {
    const now = Date.now();
    const lost = await this.evalJson<Array<{ room: string; seat: StoredSeat; held: boolean }>>(
      SCRIPTS.reclaim,
      [`${this.p}nodes`, `${this.p}held`],
      [node, now, this.graceMs, this.p, ROOM_TTL_MS],
    );
    if (!lost) return;
    this.counters.reclaimedNodes++;
    this.counters.reclaimedSeats += lost.length;
    this.log.warn(`cluster node ${node} is dead (no heartbeat for ${this.nodeTtlMs} ms): reclaimed ${lost.length} seat(s)`);
    for (const l of lost) {
      if (l.held) this.armHold(l.room, l.seat.s, this.graceMs);
      this.events?.seatLost({ room: l.room, socketId: l.seat.s, held: l.held, graceMs: l.held ? this.graceMs : 0 });
    }
  }

  /** Free every held seat whose grace period is over (any node's); raise `graceExpired` for each. */
  async sweep(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      const freed = await this.evalJson<Array<{ room: string; seat: StoredSeat; other?: StoredSeat }>>(
        SCRIPTS.expire,
        [`${this.p}held`],
        [Date.now(), this.p, ROOM_TTL_MS, SWEEP_BATCH],
      );
      if (!freed || freed.length === 0) return;
      for (const f of freed) {
        const k = `${f.room}|${f.seat.s}`;
        const t = this.holdTimers.get(k);
        if (t) clearTimeout(t);
        this.holdTimers.delete(k);
        this.counters.expired++;
        this.events?.graceExpired({ room: f.room, seat: toSeat(f.seat), other: f.other ? toSeat(f.other) : undefined });
      }
      if (freed.length < SWEEP_BATCH) return;
    }
  }

  private armHold(room: string, socketId: string, ms: number): void {
    const k = `${room}|${socketId}`;
    const old = this.holdTimers.get(k);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.holdTimers.delete(k);
      this.sweep().catch((err) => this.log.warn(`held-seat sweep failed: ${(err as Error).message}`));
    }, ms + 5);
    t.unref();
    this.holdTimers.set(k, t);
  }

  async join(room: string, socketId: string, session?: string, passcode?: string): Promise<JoinResult> {
    // One seat per socket: answered from the local map, no round trip.
    const current = this.local.get(socketId);
    if (current !== undefined && current !== room) return { kind: 'other-room', room: current };
    type R =
      | { kind: 'joined'; seat: StoredSeat; members: number; rejoin?: boolean; resumed?: boolean; other?: StoredSeat; evicted?: string; prev?: string; pw?: boolean }
      | { kind: 'full'; members: number }
      | { kind: 'wrong-passcode' };
    const r = await this.evalJson<R>(
      SCRIPTS.join,
      [this.key('room', room), `${this.p}held`, this.key('nodeseats', this.nodeId), this.key('pass', room)],
      [room, socketId, session ? hashSession(session) : '', Date.now(), this.nodeId, ROOM_TTL_MS, passcode ?? ''],
    );
    if (!r) throw new Error('join script returned nothing');
    if (r.kind === 'full') return r;
    if (r.kind === 'wrong-passcode') return { kind: 'wrong-passcode' };
    if (r.evicted !== undefined) this.local.delete(r.evicted);
    if (r.resumed && r.prev !== undefined) {
      // The hold (if any) ended: forget its timer (the script removed it from P:held).
      const k = `${room}|${r.prev}`;
      const t = this.holdTimers.get(k);
      if (t) clearTimeout(t);
      this.holdTimers.delete(k);
    }
    this.local.set(socketId, room);
    return {
      kind: 'joined',
      seat: toSeat(r.seat),
      members: r.members,
      resumed: r.resumed === true,
      rejoin: r.rejoin === true,
      other: r.other ? toSeat(r.other) : undefined,
      evictedSocketId: r.evicted,
      passcode: r.pw === true,
    };
  }

  async leave(socketId: string): Promise<FreedSeat | undefined> {
    const room = this.local.get(socketId);
    if (room === undefined) return undefined;
    this.local.delete(socketId);
    const r = await this.evalJson<{ seat: StoredSeat; other?: StoredSeat }>(
      SCRIPTS.leave,
      [this.key('room', room), `${this.p}held`, this.key('nodeseats', this.nodeId), this.key('pass', room)],
      [room, socketId, ROOM_TTL_MS],
    );
    return r ? { room, seat: toSeat(r.seat), other: r.other ? toSeat(r.other) : undefined } : undefined;
  }

  async disconnect(socketId: string, graceMs: number): Promise<DisconnectResult> {
    const room = this.local.get(socketId);
    if (room === undefined) return undefined;
    this.local.delete(socketId);
    const r = await this.evalJson<{ held: boolean; seat: StoredSeat; other?: StoredSeat }>(
      SCRIPTS.disconnect,
      [this.key('room', room), `${this.p}held`, this.key('nodeseats', this.nodeId), this.key('pass', room)],
      [room, socketId, Date.now(), graceMs, ROOM_TTL_MS],
    );
    if (!r) return undefined;
    if (r.held) this.armHold(room, socketId, graceMs);
    return { held: r.held, room, seat: toSeat(r.seat), other: r.other ? toSeat(r.other) : undefined };
  }

  roomOf(socketId: string): string | undefined {
    return this.local.get(socketId);
  }

  isSeated(room: string, socketId: string): boolean {
    return this.local.get(socketId) === room;
  }

  /**
   * Seats of THIS node: connected seats of its sockets (local map) and the holds whose timer it
   * runs (its own, and those it reclaimed from a dead node); rooms with at least one of those.
   */
  counts(): SeatCounts {
    const rooms = new Set(this.local.values());
    for (const k of this.holdTimers.keys()) rooms.add(k.slice(0, k.indexOf('|')));
    return { rooms: rooms.size, seats: this.local.size + this.holdTimers.size, held: this.holdTimers.size };
  }

  /** Every room in Redis (SCAN, up to 10 000 rooms), session hashes and node ids left out. */
  async snapshot(): Promise<RoomSnapshot[]> {
    const out: RoomSnapshot[] = [];
    let cursor = '0';
    do {
      const [next, keys] = (await this.client.sendCommand(['SCAN', cursor, 'MATCH', `${this.p}room:*`, 'COUNT', '500'])) as [string, string[]];
      cursor = next;
      for (const key of keys) {
        const raw = (await this.client.sendCommand(['GET', key])) as string | null;
        if (!raw) continue;
        const seats = JSON.parse(raw) as StoredSeat[];
        out.push({
          room: key.slice(`${this.p}room:`.length),
          members: seats.map((s) => ({ socketId: s.s, polite: s.p, connected: s.c, joinedAt: s.j, heldUntil: s.h })),
        });
      }
    } while (cursor !== '0' && out.length < 10_000);
    return out;
  }

  /**
   * Leave the cluster: stop the heartbeat and hold timers and delete our heartbeat key. Our id
   * stays in `P:nodes`, so another node reclaims at its next heartbeat any seat still marked
   * connected (and then forgets the id); our holds stay in `P:held` and are ended by the other
   * nodes' sweeps. Call after the sockets' disconnects were processed. Never throws.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const t of this.holdTimers.values()) clearTimeout(t);
    this.holdTimers.clear();
    this.local.clear();
    try {
      await this.client.sendCommand(['DEL', this.key('node', this.nodeId)]);
    } catch (err) {
      this.log.warn(`cluster: could not unregister node ${this.nodeId}: ${(err as Error).message}`);
    }
  }
}
