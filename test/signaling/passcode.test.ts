/**
 * Room passcodes over the real HTTPS + Socket.IO stack: the opener sets the passcode; the right
 * passcode joins; a wrong or missing one gets `wrong-passcode` (never `full`) and the room stays
 * exactly as it was; a session-token resume needs none; original-demo joins (no options) still work
 * in rooms without one; refusals are counted in /metrics; the passcode never appears in the log.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsGet } from '../server/httpGet.js';
import { emitAck, nextEvent, recordEvents, roomSnapshot, sleep, startTestServer, type ClientSocket, type TestServer } from './harness.js';

let t: TestServer;
let roomSeq = 7_000_000;
const nextRoom = () => String(roomSeq++);
const session = () => randomBytes(16).toString('base64url');
const PASS = 'correct horse 电池';

beforeAll(async () => {
  t = await startTestServer({ SEAT_GRACE_MS: '3000', LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await t?.stop();
});

type JoinedArgs = [string, string, { polite: boolean; members: number; resumed?: boolean; passcode?: boolean }];

/** `join` with options; resolves with the ack and the `joined` event (if one came). */
async function join(s: ClientSocket, room: string, options?: Record<string, unknown>) {
  const joined = nextEvent<JoinedArgs>(s, 'joined', 2000).catch(() => undefined);
  const ack = (await emitAck(s, 'join', room, ...(options ? [options] : []))) as { ok: boolean; error?: { code: string; event: string; room?: string } };
  return { ack, joined: ack.ok ? await joined : undefined };
}

/** The room as the store reports it, reduced to what "stays as it was" means. */
async function roomState(room: string) {
  const r = await roomSnapshot(t, room);
  return r?.members.map((m) => ({ socketId: m.socketId, polite: m.polite, connected: m.connected, joinedAt: m.joinedAt }));
}

async function refusedCount(reason: string): Promise<number> {
  const text = (await httpsGet(`${t.server.url}/metrics`)).body;
  const m = new RegExp(`^webrtc_signaling_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('room passcode', () => {
  it('the right passcode joins; wrong or missing ones get wrong-passcode and change nothing', async () => {
    const room = nextRoom();
    const [a, b, c] = await Promise.all([t.connect(), t.connect(), t.connect()]);
    const opened = await join(a, room, { passcode: PASS });
    expect(opened.ack).toEqual({ ok: true });
    expect(opened.joined?.[2]).toMatchObject({ members: 1, polite: false, passcode: true });
    const before = await roomState(room);
    const aEvents = recordEvents(a);
    const refusedBefore = await refusedCount('wrong-passcode');

    for (const options of [{ passcode: 'wrong' }, undefined, {}, { passcode: '' }, { passcode: PASS.toUpperCase() }]) {
      const err = nextEvent<[{ code: string; event: string; room: string }]>(b, 'error');
      const r = await join(b, room, options);
      expect(r.ack).toMatchObject({ ok: false, error: { event: 'join', code: 'wrong-passcode', room } });
      expect((await err)[0]).toMatchObject({ event: 'join', code: 'wrong-passcode', room });
      expect(r.joined).toBeUndefined();
      expect(await roomState(room)).toEqual(before);
    }
    await sleep(100);
    expect(aEvents).toEqual([]); // the member inside heard nothing of it
    expect(await refusedCount('wrong-passcode')).toBe(refusedBefore + 5);

    // The passcode as typed on another keyboard (NFD) is the same passcode.
    const right = await join(b, room, { passcode: PASS.normalize('NFD') });
    expect(right.ack).toEqual({ ok: true });
    expect(right.joined?.[2]).toMatchObject({ members: 2, polite: true, passcode: true });

    // Full room: a wrong passcode is still wrong-passcode, never full; the right one is full.
    const fullEvents = recordEvents(c);
    expect((await join(c, room, { passcode: 'nope' })).ack).toMatchObject({ ok: false, error: { code: 'wrong-passcode' } });
    await sleep(100);
    expect(fullEvents.map((e) => e.event)).not.toContain('full');
    const full = nextEvent(c, 'full');
    expect((await join(c, room, { passcode: PASS })).ack).toEqual({ ok: true });
    await full;
    expect((await roomSnapshot(t, room))?.members).toHaveLength(2);
    for (const s of [a, b, c]) s.disconnect();
  });

  it('two people who mistype a few times are not blocked', async () => {
    const room = nextRoom();
    const [a, b] = await Promise.all([t.connect(), t.connect()]);
    expect((await join(a, room, { passcode: 'first try' })).ack).toEqual({ ok: true });
    for (let i = 0; i < 6; i++) expect((await join(b, room, { passcode: `frist try ${i}` })).ack).toMatchObject({ ok: false, error: { code: 'wrong-passcode' } });
    expect((await join(b, room, { passcode: 'first try' })).ack).toEqual({ ok: true });
    a.disconnect();
    b.disconnect();
  });

  it('the passcode lives as long as the room: once the last seat is freed, the room can be opened anew', async () => {
    const room = nextRoom();
    const a = await t.connect();
    await join(a, room, { passcode: PASS });
    a.disconnect(); // no session token: the seat is freed at once
    await sleep(200);
    expect(await roomSnapshot(t, room)).toBeUndefined();
    const [b, c] = await Promise.all([t.connect(), t.connect()]);
    const opened = await join(b, room); // original-demo style: join(room), no options
    expect(opened.ack).toEqual({ ok: true });
    expect(opened.joined?.[2].passcode).toBeUndefined();
    // A passcode given for a room already open without one is ignored.
    const r = await join(c, room, { passcode: 'anything' });
    expect(r.ack).toEqual({ ok: true });
    expect(r.joined?.[2].passcode).toBeUndefined();
    b.disconnect();
    c.disconnect();
  });

  it('a reload (session token) takes the seat back without the passcode; others still need it', async () => {
    const room = nextRoom();
    const tokenA = session();
    const [a, b, c] = await Promise.all([t.connect(), t.connect(), t.connect()]);
    await join(a, room, { session: tokenA, passcode: PASS });
    await join(b, room, { passcode: PASS });
    const held = nextEvent(b, 'otherreconnecting');
    a.disconnect();
    await held;
    // While A's seat is held, a stranger with a wrong passcode is refused (not full).
    expect((await join(c, room, { passcode: 'guess' })).ack).toMatchObject({ ok: false, error: { code: 'wrong-passcode' } });
    const a2 = await t.connect();
    const resumed = await join(a2, room, { session: tokenA });
    expect(resumed.ack).toEqual({ ok: true });
    expect(resumed.joined?.[2]).toMatchObject({ resumed: true, members: 2, passcode: true });
    for (const s of [a2, b, c]) s.disconnect();
  });

  it('an over-long passcode is invalid-payload; the passcode never appears in the server log', async () => {
    const room = nextRoom();
    const a = await t.connect();
    expect((await join(a, room, { passcode: 'x'.repeat(65) })).ack).toMatchObject({ ok: false, error: { code: 'invalid-payload' } });
    expect(await roomSnapshot(t, room)).toBeUndefined();
    a.disconnect();
    await sleep(200);
    const log = readFileSync(path.join(t.config.LOG_DIR, 'server.log'), 'utf8');
    expect(log).toMatch(/wrong passcode room=/);
    expect(log).not.toContain(PASS);
    expect(log).not.toContain('first try');
  });
});
