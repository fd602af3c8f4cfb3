/**
 * The seat grace period with per-tab session tokens (SEAT_GRACE_MS shortened to 800 ms).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextEvent, recordEvents, roomSnapshot, sleep, startTestServer, type ClientSocket, type TestServer } from './harness.js';

const GRACE_MS = 800;
let t: TestServer;
let roomSeq = 300_000;
const newRoom = () => String(++roomSeq);
const token = () => randomBytes(16).toString('base64url');

beforeAll(async () => {
  t = await startTestServer({ SEAT_GRACE_MS: String(GRACE_MS) });
});
afterAll(async () => {
  await t?.stop();
});

type JoinedArgs = [string, string, { polite: boolean; members: number; resumed?: boolean }];

async function join(s: ClientSocket, room: string, session?: string): Promise<JoinedArgs> {
  const j = nextEvent<JoinedArgs>(s, 'joined');
  if (session) s.emit('join', room, { session });
  else s.emit('join', room);
  return j;
}

async function pair(room: string, sa?: string, sb?: string) {
  const a = await t.connect();
  const b = await t.connect();
  await join(a, room, sa);
  const other = nextEvent(a, 'otherjoin');
  await join(b, room, sb);
  await other;
  return { a, b };
}

describe('seat grace period', () => {
  it('disconnect → otherreconnecting (not bye); the seat is held (third joiner full); same token resumes; messages flow again', async () => {
    const room = newRoom();
    const tb = token();
    const { a, b } = await pair(room, token(), tb);
    const bId = b.id;
    const aEvents = recordEvents(a);
    const reconnecting = nextEvent<[string, string, number]>(a, 'otherreconnecting');
    b.disconnect();
    expect(await reconnecting).toEqual([room, bId, GRACE_MS]);

    const c = await t.connect();
    const full = nextEvent(c, 'full');
    c.emit('join', room);
    await full;

    const b2 = await t.connect();
    const otherjoin = nextEvent<[string, string]>(a, 'otherjoin');
    const [r, id, info] = await join(b2, room, tb);
    expect([r, id]).toEqual([room, b2.id]);
    expect(info).toEqual({ polite: true, members: 2, resumed: true });
    expect(await otherjoin).toEqual([room, b2.id]);

    const m = nextEvent<[string, unknown]>(b2, 'message');
    a.emit('message', room, { type: 'offer', sdp: 'v=0' });
    expect((await m)[1]).toEqual({ type: 'offer', sdp: 'v=0' });
    await sleep(GRACE_MS + 200);
    expect(aEvents.map((e) => e.event)).not.toContain('bye');
    for (const s of [a, c, b2]) s.disconnect();
  });

  it('without a resume the other member gets bye after the grace period, and the seat is free', async () => {
    const room = newRoom();
    const { a, b } = await pair(room, token(), token());
    const bId = b.id;
    const t0 = Date.now();
    const bye = nextEvent<[string, string]>(a, 'bye', GRACE_MS + 2000);
    b.disconnect();
    expect(await bye).toEqual([room, bId]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(GRACE_MS - 50);
    const c = await t.connect();
    const [, , info] = await join(c, room);
    expect(info).toEqual({ polite: true, members: 2 });
    expect(t.server.signaling.counters.graceExpired).toBeGreaterThanOrEqual(1);
    a.disconnect();
    c.disconnect();
  });

  it('after the grace period the same token joins as a new member (not resumed)', async () => {
    const room = newRoom();
    const tb = token();
    const { a, b } = await pair(room, token(), tb);
    const bye = nextEvent(a, 'bye', GRACE_MS + 2000);
    b.disconnect();
    await bye;
    const b2 = await t.connect();
    const [, , info] = await join(b2, room, tb);
    expect(info).toEqual({ polite: true, members: 2 });
    a.disconnect();
    b2.disconnect();
  });

  it('a member without a token gets no grace period: bye at once', async () => {
    const room = newRoom();
    const { a, b } = await pair(room, token(), undefined);
    const events = recordEvents(a);
    const bye = nextEvent(a, 'bye', 500);
    b.disconnect();
    await bye;
    expect(events.map((e) => e.event)).not.toContain('otherreconnecting');
    a.disconnect();
  });

  it('a different token does not take a held seat', async () => {
    const room = newRoom();
    const { a, b } = await pair(room, token(), token());
    const r = nextEvent(a, 'otherreconnecting');
    b.disconnect();
    await r;
    const imposter = await t.connect();
    const full = nextEvent(imposter, 'full');
    imposter.emit('join', room, { session: token() });
    await full;
    a.disconnect();
    imposter.disconnect();
  });

  it('the same token on a new connection takes the seat over from a stale connection; the old socket is dropped without bye', async () => {
    const room = newRoom();
    const tb = token();
    const { a, b } = await pair(room, token(), tb);
    const aEvents = recordEvents(a);
    const oldClosed = nextEvent(b, 'disconnect');
    const otherjoin = nextEvent<[string, string]>(a, 'otherjoin');
    const b2 = await t.connect();
    const [, , info] = await join(b2, room, tb);
    expect(info).toMatchObject({ resumed: true, members: 2 });
    await oldClosed;
    expect(await otherjoin).toEqual([room, b2.id]);
    await sleep(200);
    expect(aEvents.map((e) => e.event)).toEqual(['otherjoin']);
    const snap = (await roomSnapshot(t, room))!;
    expect(snap.members.map((m) => m.socketId).sort()).toEqual([a.id, b2.id].sort());
    a.disconnect();
    b2.disconnect();
  });

  it('roles stay opposite: when the first (impolite) member resumes it is polite and the other becomes impolite', async () => {
    const room = newRoom();
    const ta = token();
    const { a, b } = await pair(room, ta, token());
    const r = nextEvent(b, 'otherreconnecting');
    a.disconnect();
    await r;
    const a2 = await t.connect();
    const otherjoin = nextEvent(b, 'otherjoin');
    const [, , info] = await join(a2, room, ta);
    await otherjoin;
    expect(info).toEqual({ polite: true, members: 2, resumed: true });
    const snap = (await roomSnapshot(t, room))!;
    const roles = Object.fromEntries(snap.members.map((m) => [m.socketId, m.polite]));
    expect(roles).toEqual({ [a2.id!]: true, [b.id!]: false });
    a2.disconnect();
    b.disconnect();
  });

  it('both members dropped: the seats are held and both can come back', async () => {
    const room = newRoom();
    const [ta, tb] = [token(), token()];
    const { a, b } = await pair(room, ta, tb);
    a.disconnect();
    b.disconnect();
    await sleep(100);
    expect((await roomSnapshot(t, room))?.members.every((m) => !m.connected)).toBe(true);
    const a2 = await t.connect();
    const [, , ia] = await join(a2, room, ta);
    expect(ia).toEqual({ polite: true, members: 2, resumed: true });
    const b2 = await t.connect();
    const otherjoin = nextEvent(a2, 'otherjoin');
    const [, , ib] = await join(b2, room, tb);
    expect(ib).toEqual({ polite: true, members: 2, resumed: true });
    await otherjoin;
    a2.disconnect();
    b2.disconnect();
  });
});
