/**
 * The seat-store contract (`server/signaling/seatStore.ts`): ONE suite, the same cases and the same
 * expectations, run against the in-process store and the Redis store (Lua scripts, on a real
 * throwaway redis-server on loopback). Seats, roles, one room per socket, the grace period with
 * session tokens, take-over of a stale connection, capacity under concurrent joins, counts and
 * snapshots, room passcodes (set by the opener, checked before capacity, kept for the room's lifetime).
 */
import { randomBytes } from 'node:crypto';
import log4js from 'log4js';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemorySeatStore } from '../../server/signaling/memorySeatStore.js';
import { RedisSeatStore } from '../../server/signaling/redisSeatStore.js';
import type { FreedSeat, JoinResult, Seat, SeatStore } from '../../server/signaling/seatStore.js';
import { haveRedis, startRedis, type TestRedis } from './redis-server.js';

if (!haveRedis) {
  console.warn('\n!!! SKIPPING the Redis half of the seat-store contract: redis-server is not installed (apt-get install redis-server) !!!\n');
}

/** Grace period used by the suite, ms. */
const GRACE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const token = () => randomBytes(16).toString('base64url');

let redis: TestRedis | undefined;
let redisClient: ReturnType<typeof createClient> | undefined;

beforeAll(async () => {
  if (!haveRedis) return;
  redis = await startRedis();
  redisClient = createClient({ url: redis.url });
  redisClient.on('error', () => {});
  await redisClient.connect();
});

afterAll(async () => {
  await redisClient?.close();
  await redis?.stop();
});

const subjects: Array<{ name: string; skip: boolean; make: () => SeatStore }> = [
  { name: 'memory', skip: false, make: () => new MemorySeatStore() },
  {
    name: 'redis',
    skip: !haveRedis,
    make: () =>
      new RedisSeatStore({
        client: { sendCommand: (args) => redisClient!.sendCommand(args) },
        // A fresh key space per case: the cases cannot see each other's rooms.
        prefix: `contract-${randomBytes(4).toString('hex')}`,
        nodeTtlMs: 5000,
        graceMs: GRACE_MS,
        logger: log4js.getLogger('seat-store-test'),
      }),
  },
];

/** The part of a seat both stores report. */
const view = (s: Seat | undefined) => s && { socketId: s.socketId, polite: s.polite, connected: s.connected };

/** A join result reduced to what the contract fixes. */
function joined(r: JoinResult) {
  if (r.kind !== 'joined') return r;
  return { kind: r.kind, members: r.members, resumed: r.resumed, rejoin: r.rejoin, seat: view(r.seat), other: view(r.other), evicted: r.evictedSocketId };
}

for (const subject of subjects) {
  describe.skipIf(subject.skip)(`seat store contract: ${subject.name}`, () => {
    let store: SeatStore;
    let expired: FreedSeat[];

    beforeEach(async () => {
      store = subject.make();
      expired = [];
      await store.start({ graceExpired: (f) => expired.push(f), seatLost: () => {} });
    });
    afterEach(async () => {
      await store.close();
    });

    const room = async (r: string) => (await store.snapshot()).find((x) => x.room === r);

    it('seats two with opposite roles, answers full to a third, forgets a room when its last seat goes', async () => {
      expect(joined(await store.join('1', 'a'))).toEqual({ kind: 'joined', members: 1, resumed: false, rejoin: false, seat: { socketId: 'a', polite: false, connected: true }, other: undefined, evicted: undefined });
      expect(joined(await store.join('1', 'b'))).toEqual({ kind: 'joined', members: 2, resumed: false, rejoin: false, seat: { socketId: 'b', polite: true, connected: true }, other: { socketId: 'a', polite: false, connected: true }, evicted: undefined });
      expect(await store.join('1', 'c')).toEqual({ kind: 'full', members: 2 });
      expect(store.isSeated('1', 'c')).toBe(false);
      expect(store.counts()).toEqual({ rooms: 1, seats: 2, held: 0 });
      await store.leave('a');
      await store.leave('b');
      expect(await room('1')).toBeUndefined();
      expect(store.counts()).toEqual({ rooms: 0, seats: 0, held: 0 });
    });

    it('one connected seat per socket: another room answers other-room and changes nothing; the same room is an idempotent re-join', async () => {
      await store.join('1', 'a');
      expect(await store.join('2', 'a')).toEqual({ kind: 'other-room', room: '1' });
      expect(await room('2')).toBeUndefined();
      expect(joined(await store.join('1', 'a'))).toMatchObject({ kind: 'joined', rejoin: true, members: 1, seat: { socketId: 'a' } });
      expect(store.roomOf('a')).toBe('1');
      expect(store.isSeated('1', 'a')).toBe(true);
      expect(store.isSeated('2', 'a')).toBe(false);
      expect(store.counts()).toEqual({ rooms: 1, seats: 1, held: 0 });
    });

    it('leave frees the seat; the one who stays becomes impolite and a newcomer is polite', async () => {
      await store.join('1', 'a');
      await store.join('1', 'b');
      const freed = await store.leave('a');
      expect({ room: freed?.room, seat: view(freed?.seat), other: view(freed?.other) }).toEqual({
        room: '1',
        seat: { socketId: 'a', polite: false, connected: true },
        other: { socketId: 'b', polite: true, connected: true },
      });
      expect(store.roomOf('a')).toBeUndefined();
      expect(joined(await store.join('1', 'c'))).toMatchObject({ seat: { socketId: 'c', polite: true }, other: { socketId: 'b', polite: false } });
      expect((await room('1'))?.members.map((m) => [m.socketId, m.polite])).toEqual([
        ['b', false],
        ['c', true],
      ]);
    });

    it('leave and disconnect of a socket without a seat answer undefined and change nothing', async () => {
      await store.join('1', 'a');
      expect(await store.leave('zzz')).toBeUndefined();
      expect(await store.disconnect('zzz', GRACE_MS)).toBeUndefined();
      expect(store.counts()).toEqual({ rooms: 1, seats: 1, held: 0 });
    });

    it('disconnect without a session token, or with grace 0, frees the seat at once', async () => {
      await store.join('1', 'a');
      await store.join('1', 'b', token());
      expect(await store.disconnect('a', GRACE_MS)).toMatchObject({ held: false, room: '1', seat: { socketId: 'a' }, other: { socketId: 'b' } });
      expect(await store.disconnect('b', 0)).toMatchObject({ held: false, room: '1', seat: { socketId: 'b' } });
      expect(await room('1')).toBeUndefined();
      expect(store.counts()).toEqual({ rooms: 0, seats: 0, held: 0 });
    });

    it('disconnect with a session token holds the seat for the grace period (room stays full), then frees it and reports it once', async () => {
      await store.join('1', 'a', token());
      await store.join('1', 'b', token());
      const t0 = Date.now();
      expect(await store.disconnect('b', GRACE_MS)).toMatchObject({ held: true, room: '1', seat: { socketId: 'b', connected: false }, other: { socketId: 'a' } });
      expect(store.isSeated('1', 'b')).toBe(false);
      expect(store.counts()).toEqual({ rooms: 1, seats: 2, held: 1 });
      const held = (await room('1'))?.members.find((m) => m.socketId === 'b');
      expect(held?.connected).toBe(false);
      expect(held?.heldUntil).toBeGreaterThanOrEqual(t0 + GRACE_MS);
      expect(await store.join('1', 'c')).toEqual({ kind: 'full', members: 2 });
      await sleep(GRACE_MS * 2 + 200);
      expect(expired.map((f) => ({ room: f.room, seat: f.seat.socketId, other: f.other?.socketId }))).toEqual([{ room: '1', seat: 'b', other: 'a' }]);
      expect((await room('1'))?.members.map((m) => m.socketId)).toEqual(['a']);
      expect(store.counts()).toEqual({ rooms: 1, seats: 1, held: 0 });
    });

    it('the same token within the grace period resumes the seat on a new socket; the hold never expires', async () => {
      const tb = token();
      await store.join('1', 'a', token());
      await store.join('1', 'b', tb);
      await store.disconnect('b', GRACE_MS);
      expect(joined(await store.join('1', 'b2', tb))).toEqual({
        kind: 'joined',
        members: 2,
        resumed: true,
        rejoin: false,
        seat: { socketId: 'b2', polite: true, connected: true },
        other: { socketId: 'a', polite: false, connected: true },
        evicted: undefined,
      });
      expect(store.isSeated('1', 'b2')).toBe(true);
      expect(store.isSeated('1', 'b')).toBe(false);
      await sleep(GRACE_MS * 2 + 200);
      expect(expired).toEqual([]);
      expect(store.counts()).toEqual({ rooms: 1, seats: 2, held: 0 });
    });

    it('a resume makes the resumed member polite and the other impolite', async () => {
      const ta = token();
      await store.join('1', 'a', ta);
      await store.join('1', 'b', token());
      await store.disconnect('a', GRACE_MS);
      expect(joined(await store.join('1', 'a2', ta))).toMatchObject({ resumed: true, seat: { socketId: 'a2', polite: true }, other: { socketId: 'b', polite: false } });
      expect(Object.fromEntries((await room('1'))!.members.map((m) => [m.socketId, m.polite]))).toEqual({ a2: true, b: false });
    });

    it('a different token does not take a held seat', async () => {
      await store.join('1', 'a', token());
      await store.join('1', 'b', token());
      await store.disconnect('b', GRACE_MS);
      expect(await store.join('1', 'x', token())).toEqual({ kind: 'full', members: 2 });
    });

    it('the token of a seat whose socket still looks connected takes the seat over and names the evicted socket', async () => {
      const tb = token();
      await store.join('1', 'a');
      await store.join('1', 'b', tb);
      expect(joined(await store.join('1', 'b2', tb))).toMatchObject({ kind: 'joined', resumed: true, members: 2, seat: { socketId: 'b2', connected: true }, evicted: 'b' });
      expect(store.isSeated('1', 'b')).toBe(false);
      expect(store.roomOf('b')).toBeUndefined();
      // The evicted socket's late disconnect finds no seat.
      expect(await store.disconnect('b', GRACE_MS)).toBeUndefined();
      expect((await room('1'))?.members.map((m) => m.socketId).sort()).toEqual(['a', 'b2']);
    });

    it('of 10 concurrent joiners exactly two are seated', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.join('7', `s${i}`)));
      expect(results.filter((r) => r.kind === 'joined')).toHaveLength(2);
      expect(results.filter((r) => r.kind === 'full')).toHaveLength(8);
      const members = (await room('7'))!.members;
      expect(members).toHaveLength(2);
      expect(members.map((m) => m.polite).sort()).toEqual([false, true]);
    });

    it('snapshots list every room with its members and never a session token', async () => {
      const secret = token();
      const t0 = Date.now();
      await store.join('1', 'a', secret);
      await store.join('2', 'b');
      const snap = await store.snapshot();
      expect(snap.map((r) => r.room).sort()).toEqual(['1', '2']);
      const a = snap.find((r) => r.room === '1')!.members[0]!;
      expect(a).toMatchObject({ socketId: 'a', polite: false, connected: true });
      expect(a.joinedAt).toBeGreaterThanOrEqual(t0 - 1000);
      expect(JSON.stringify(snap)).not.toContain(secret);
    });

    // Passcode verifiers are opaque to the stores (passcode.ts makes them); two distinct ones here.
    const PASS = 'a1'.repeat(32);
    const OTHER = 'b2'.repeat(32);

    it('passcode: the opener sets it; the same verifier joins, another or none is wrong-passcode and changes nothing', async () => {
      expect(await store.join('1', 'a', undefined, PASS)).toMatchObject({ kind: 'joined', members: 1, passcode: true });
      const before = await room('1');
      expect(await store.join('1', 'b', undefined, OTHER)).toEqual({ kind: 'wrong-passcode' });
      expect(await store.join('1', 'b')).toEqual({ kind: 'wrong-passcode' });
      expect(await store.join('1', 'b', token())).toEqual({ kind: 'wrong-passcode' });
      expect(await room('1')).toEqual(before);
      expect(store.isSeated('1', 'b')).toBe(false);
      expect(store.roomOf('b')).toBeUndefined();
      expect(store.counts()).toEqual({ rooms: 1, seats: 1, held: 0 });
      expect(await store.join('1', 'b', undefined, PASS)).toMatchObject({ kind: 'joined', members: 2, passcode: true, seat: { socketId: 'b', polite: true } });
      // Idempotent re-join needs no passcode.
      expect(await store.join('1', 'a')).toMatchObject({ kind: 'joined', rejoin: true, passcode: true });
    });

    it('passcode: a full room answers wrong-passcode to a wrong passcode (never full), full to the right one', async () => {
      await store.join('1', 'a', undefined, PASS);
      await store.join('1', 'b', undefined, PASS);
      expect(await store.join('1', 'c', undefined, OTHER)).toEqual({ kind: 'wrong-passcode' });
      expect(await store.join('1', 'c')).toEqual({ kind: 'wrong-passcode' });
      expect(await store.join('1', 'c', undefined, PASS)).toEqual({ kind: 'full', members: 2 });
    });

    it('passcode: a resume with the session token needs none; a held seat keeps the room protected', async () => {
      const secret = token();
      await store.join('1', 'a', secret, PASS);
      await store.join('1', 'b', undefined, PASS);
      await store.disconnect('a', GRACE_MS);
      expect(await store.join('1', 'c', undefined, OTHER)).toEqual({ kind: 'wrong-passcode' });
      expect(await store.join('1', 'a2', secret)).toMatchObject({ kind: 'joined', resumed: true, passcode: true, seat: { socketId: 'a2' } });
    });

    it('passcode: lives as long as the room; a room opened without one ignores a later one', async () => {
      await store.join('1', 'a', undefined, PASS);
      await store.leave('a');
      expect(await store.join('1', 'b')).toMatchObject({ kind: 'joined', members: 1, passcode: false });
      expect(await store.join('1', 'c', undefined, OTHER)).toMatchObject({ kind: 'joined', members: 2, passcode: false });
      // A held seat that expires ends the room and its passcode too.
      await store.join('2', 'd', token(), PASS);
      await store.disconnect('d', GRACE_MS);
      await sleep(GRACE_MS + 400);
      expect(await room('2')).toBeUndefined();
      expect(await store.join('2', 'e', undefined, OTHER)).toMatchObject({ kind: 'joined', members: 1, passcode: true });
      expect(await store.join('2', 'f', undefined, PASS)).toEqual({ kind: 'wrong-passcode' });
    });

    it('close cancels the grace timers: no expiry is reported afterwards', async () => {
      await store.join('1', 'a', token());
      await store.disconnect('a', GRACE_MS);
      // A room whose only seat is held still counts as a room.
      expect(store.counts()).toEqual({ rooms: 1, seats: 1, held: 1 });
      await store.close();
      await sleep(GRACE_MS * 2 + 200);
      expect(expired).toEqual([]);
    });
  });
}

describe.skipIf(!haveRedis)('redis seat store: passcode key', () => {
  it('keeps the verifier (not the passcode) in P:pass:<room>, with the room key lifetime, and deletes it with the room', async () => {
    const prefix = `pass-${randomBytes(4).toString('hex')}`;
    const store = new RedisSeatStore({
      client: { sendCommand: (args) => redisClient!.sendCommand(args) },
      prefix,
      nodeTtlMs: 5000,
      graceMs: GRACE_MS,
      logger: log4js.getLogger('seat-store-test'),
    });
    await store.start({ graceExpired: () => {}, seatLost: () => {} });
    try {
      const verifier = 'c3'.repeat(32);
      await store.join('5', 'a', undefined, verifier);
      expect(await redisClient!.sendCommand(['GET', `${prefix}:pass:5`])).toBe(verifier);
      expect(Number(await redisClient!.sendCommand(['PTTL', `${prefix}:pass:5`]))).toBeGreaterThan(0);
      await store.join('5', 'b', undefined, verifier);
      await store.leave('a');
      expect(await redisClient!.sendCommand(['EXISTS', `${prefix}:pass:5`])).toBe(1);
      await store.disconnect('b', 0);
      expect(await redisClient!.sendCommand(['EXISTS', `${prefix}:pass:5`])).toBe(0);
      expect(await redisClient!.sendCommand(['EXISTS', `${prefix}:room:5`])).toBe(0);
    } finally {
      await store.close();
    }
  });
});
