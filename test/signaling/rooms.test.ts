/**
 * Room membership over the real HTTPS + Socket.IO stack: join/joined/otherjoin, capacity of two
 * (also under 20 concurrent joiners), leave, disconnect, re-join, one room per socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitAck, emitRaw, nextEvent, raceJoin, recordEvents, roomSnapshot, sleep, startTestServer, type ClientSocket, type TestServer } from './harness.js';

let t: TestServer;
let roomSeq = 100_000;
const newRoom = () => String(++roomSeq);

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function joinRoom(s: ClientSocket, room: string) {
  const joined = nextEvent<[string, string, { polite: boolean; members: number }]>(s, 'joined');
  s.emit('join', room);
  return joined;
}

/** a joins, then b joins; resolves when b has `joined` AND a has `otherjoin`. */
async function joinPair(a: ClientSocket, b: ClientSocket, room: string) {
  await joinRoom(a, room);
  const other = nextEvent(a, 'otherjoin');
  await joinRoom(b, room);
  await other;
}

describe('join', () => {
  it('first joiner gets joined (impolite, 1 member); second gets joined (polite) and the first gets otherjoin', async () => {
    const room = newRoom();
    const a = await t.connect();
    const b = await t.connect();
    const [r1, id1, info1] = await joinRoom(a, room);
    expect([r1, id1]).toEqual([room, a.id]);
    expect(info1).toEqual({ polite: false, members: 1 });

    const other = nextEvent<[string, string]>(a, 'otherjoin');
    const [r2, id2, info2] = await joinRoom(b, room);
    expect([r2, id2]).toEqual([room, b.id]);
    expect(info2).toEqual({ polite: true, members: 2 });
    expect(await other).toEqual([room, b.id]);
    a.disconnect();
    b.disconnect();
  });

  it('accepts a numeric room and normalizes it to its digits', async () => {
    const a = await t.connect();
    const joined = nextEvent<[string, string]>(a, 'joined');
    emitRaw(a, 'join', 4242);
    expect((await joined)[0]).toBe('4242');
    a.disconnect();
  });

  it('third joiner gets full and is not seated', async () => {
    const room = newRoom();
    const [a, b, c] = await Promise.all([t.connect(), t.connect(), t.connect()]);
    await joinPair(a, b, room);
    const aEvents = recordEvents(a);
    const full = nextEvent<[string, string]>(c, 'full');
    const ack = emitAck(c, 'join', room);
    expect(await full).toEqual([room, c.id]);
    expect(await ack).toEqual({ ok: true });
    // c is not a member: its messages are refused, a hears nothing from it.
    const res = await emitAck(c, 'message', room, { type: 'offer', sdp: 'v=0' });
    expect(res).toMatchObject({ ok: false, error: { code: 'not-a-member' } });
    await sleep(100);
    expect(aEvents).toEqual([]);
    for (const s of [a, b, c]) s.disconnect();
  });

  it('of 20 concurrent joiners exactly 2 are seated and 18 get full', async () => {
    const room = newRoom();
    const sockets = await Promise.all(Array.from({ length: 20 }, () => t.connect()));
    const outcomes = await raceJoin(sockets, room);
    expect(outcomes.filter((o) => o === 'joined')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'full')).toHaveLength(18);
    const snap = await roomSnapshot(t, room);
    expect(snap?.members).toHaveLength(2);
    for (const s of sockets) s.disconnect();
  });

  it('re-joining the same room answers joined again without a second seat', async () => {
    const room = newRoom();
    const a = await t.connect();
    const b = await t.connect();
    await joinPair(a, b, room);
    const aEvents = recordEvents(a);
    const [, , info] = await joinRoom(b, room);
    expect(info).toEqual({ polite: true, members: 2 });
    await sleep(100);
    expect(aEvents.map((e) => e.event)).not.toContain('otherjoin');
    expect((await roomSnapshot(t, room))?.members).toHaveLength(2);
    a.disconnect();
    b.disconnect();
  });

  it('joining a second room while seated is refused with already-joined and changes nothing', async () => {
    const room1 = newRoom();
    const room2 = newRoom();
    const a = await t.connect();
    await joinRoom(a, room1);
    const err = nextEvent<[{ event: string; code: string; reason: string }]>(a, 'error');
    const res = await emitAck(a, 'join', room2);
    expect(res).toMatchObject({ ok: false, error: { event: 'join', code: 'already-joined' } });
    expect((await err)[0]).toMatchObject({ event: 'join', code: 'already-joined' });
    expect((await roomSnapshot(t, room1))?.members.map((m) => m.socketId)).toEqual([a.id]);
    expect(await roomSnapshot(t, room2)).toBeUndefined();
    // After leaving, the other room can be joined.
    await emitAck(a, 'leave', room1);
    const [r] = await joinRoom(a, room2);
    expect(r).toBe(room2);
    a.disconnect();
  });
});

describe('leave and disconnect', () => {
  it('leave → leaved to the leaver, bye to the other member; the seat is free again', async () => {
    const room = newRoom();
    const [a, b, c] = await Promise.all([t.connect(), t.connect(), t.connect()]);
    await joinPair(a, b, room);
    const leaved = nextEvent<[string, string]>(b, 'leaved');
    const bye = nextEvent<[string, string]>(a, 'bye');
    expect(await emitAck(b, 'leave', room)).toEqual({ ok: true });
    expect(await leaved).toEqual([room, b.id]);
    expect(await bye).toEqual([room, b.id]);
    // The freed seat goes to the next joiner; a is now the member already there.
    const other = nextEvent<[string, string]>(a, 'otherjoin');
    const [, , info] = await joinRoom(c, room);
    expect(info).toEqual({ polite: true, members: 2 });
    expect(await other).toEqual([room, c.id]);
    for (const s of [a, b, c]) s.disconnect();
  });

  it('leave of a room one is not in is refused with not-a-member', async () => {
    const a = await t.connect();
    const res = await emitAck(a, 'leave', newRoom());
    expect(res).toMatchObject({ ok: false, error: { event: 'leave', code: 'not-a-member' } });
    a.disconnect();
  });

  it('disconnect → bye to the other member (no session token: no grace period)', async () => {
    const room = newRoom();
    const a = await t.connect();
    const b = await t.connect();
    await joinPair(a, b, room);
    const bye = nextEvent<[string, string]>(a, 'bye');
    const bId = b.id;
    b.disconnect();
    expect(await bye).toEqual([room, bId]);
    expect((await roomSnapshot(t, room))?.members).toHaveLength(1);
    a.disconnect();
    await sleep(100);
    expect(await roomSnapshot(t, room)).toBeUndefined();
  });

  it('empty rooms are forgotten', async () => {
    const before = t.server.signaling.seats.counts().rooms;
    const room = newRoom();
    const a = await t.connect();
    await joinRoom(a, room);
    expect(t.server.signaling.seats.counts().rooms).toBe(before + 1);
    await emitAck(a, 'leave', room);
    expect(t.server.signaling.seats.counts().rooms).toBe(before);
    a.disconnect();
  });
});
