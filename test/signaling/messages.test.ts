/**
 * Message relaying and input validation over the real HTTPS + Socket.IO stack: offer/answer/
 * candidate relayed only to the other member of the same room, non-members and other rooms never
 * receive anything, malformed payloads are refused with a reason and the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES, MAX_SDP_LENGTH } from '../../contracts/signaling.js';
import { httpsGet } from '../server/httpGet.js';
import { emitAck, emitRaw, nextEvent, recordEvents, roomSnapshot, sleep, startTestServer, type ClientSocket, type TestServer } from './harness.js';

let t: TestServer;
let roomSeq = 200_000;
const newRoom = () => String(++roomSeq);

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function pair(room = newRoom()): Promise<{ room: string; a: ClientSocket; b: ClientSocket }> {
  const a = await t.connect();
  const b = await t.connect();
  const ja = nextEvent(a, 'joined');
  a.emit('join', room);
  await ja;
  const other = nextEvent(a, 'otherjoin');
  const jb = nextEvent(b, 'joined');
  b.emit('join', room);
  await Promise.all([jb, other]);
  return { room, a, b };
}

const offer = { type: 'offer' as const, sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const answer = { type: 'answer' as const, sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const candidate = {
  type: 'candidate' as const,
  label: 0,
  id: '0',
  candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0',
};
const stdCandidate = { type: 'candidate' as const, sdpMLineIndex: 0, sdpMid: '0', candidate: '' };

describe('relaying', () => {
  it('relays offer, answer, candidates (both spellings), state and bye to the other member only', async () => {
    const { room, a, b } = await pair();
    const aEvents = recordEvents(a);
    const got = nextEvent<[string, unknown]>(b, 'message');
    expect(await emitAck(a, 'message', room, offer)).toEqual({ ok: true });
    expect(await got).toEqual([room, offer]);

    const back = nextEvent<[string, unknown]>(a, 'message');
    b.emit('message', room, answer);
    expect(await back).toEqual([room, answer]);

    for (const data of [candidate, stdCandidate, { type: 'state', audioMuted: true, videoOff: false, screen: false }, 'bye'] as const) {
      const m = nextEvent<[string, unknown]>(b, 'message');
      emitRaw(a, 'message', room, data);
      expect(await m).toEqual([room, data]);
    }
    // The sender never gets its own messages back.
    await sleep(100);
    expect(aEvents.filter((e) => e.event === 'message')).toHaveLength(1); // only the answer
    a.disconnect();
    b.disconnect();
  });

  it('drops unknown fields before relaying', async () => {
    const { room, a, b } = await pair();
    const m = nextEvent<[string, Record<string, unknown>]>(b, 'message');
    emitRaw(a, 'message', room, { ...offer, evil: '<script>' });
    const [, data] = await m;
    expect(data).toEqual(offer);
    a.disconnect();
    b.disconnect();
  });

  it('a message from a non-member is refused and not delivered', async () => {
    const { room, a, b } = await pair();
    const outsider = await t.connect();
    const aEvents = recordEvents(a);
    const bEvents = recordEvents(b);
    const err = nextEvent<[{ event: string; code: string; room?: string }]>(outsider, 'error');
    const res = await emitAck(outsider, 'message', room, offer);
    expect(res).toMatchObject({ ok: false, error: { event: 'message', code: 'not-a-member', room } });
    expect((await err)[0]).toMatchObject({ event: 'message', code: 'not-a-member', room });
    await sleep(150);
    expect(aEvents).toEqual([]);
    expect(bEvents).toEqual([]);
    for (const s of [a, b, outsider]) s.disconnect();
  });

  it('a member cannot send into another room it is not in', async () => {
    const p1 = await pair();
    const p2 = await pair();
    const p2Events = [...[p2.a, p2.b].map(recordEvents)];
    const res = await emitAck(p1.a, 'message', p2.room, offer);
    expect(res).toMatchObject({ ok: false, error: { code: 'not-a-member' } });
    await sleep(100);
    expect(p2Events.flat()).toEqual([]);
    for (const s of [p1.a, p1.b, p2.a, p2.b]) s.disconnect();
  });

  it('two rooms never see each other’s messages', async () => {
    const p1 = await pair();
    const p2 = await pair();
    const logs = [p1.a, p1.b, p2.a, p2.b].map(recordEvents);
    const got1 = nextEvent<[string, unknown]>(p1.b, 'message');
    const got2 = nextEvent<[string, unknown]>(p2.b, 'message');
    p1.a.emit('message', p1.room, offer);
    p2.a.emit('message', p2.room, answer);
    expect(await got1).toEqual([p1.room, offer]);
    expect(await got2).toEqual([p2.room, answer]);
    await sleep(100);
    expect(logs[1]!.map((e) => e.args)).toEqual([[p1.room, offer]]);
    expect(logs[3]!.map((e) => e.args)).toEqual([[p2.room, answer]]);
    expect(logs[0]).toEqual([]);
    expect(logs[2]).toEqual([]);
    for (const s of [p1.a, p1.b, p2.a, p2.b]) s.disconnect();
  });
});

describe('malformed input', () => {
  const cases: Array<{ name: string; event: string; args: (room: string) => unknown[]; code: string; reason: RegExp }> = [
    { name: 'room with letters', event: 'join', args: () => ['abc'], code: 'invalid-room', reason: /room must be a number/ },
    { name: 'room too long', event: 'join', args: () => ['1234567890123'], code: 'invalid-room', reason: /room must be a number/ },
    { name: 'room as object', event: 'join', args: () => [{ room: 1 }], code: 'invalid-room', reason: /got object/ },
    { name: 'room missing', event: 'join', args: () => [], code: 'invalid-room', reason: /got nothing/ },
    { name: 'negative room', event: 'join', args: () => [-5], code: 'invalid-room', reason: /room must be a number/ },
    { name: 'bad join options', event: 'join', args: (r) => [r, { session: 'short' }], code: 'invalid-payload', reason: /session/ },
    { name: 'unknown join option', event: 'join', args: (r) => [r, { admin: true }], code: 'invalid-payload', reason: /options/ },
    { name: 'leave with bad room', event: 'leave', args: () => [null], code: 'invalid-room', reason: /got null/ },
    { name: 'message with bad room', event: 'message', args: () => ['x1', offer], code: 'invalid-room', reason: /room must be/ },
    { name: 'message data missing', event: 'message', args: (r) => [r], code: 'invalid-payload', reason: /got undefined/ },
    { name: 'message data as number', event: 'message', args: (r) => [r, 42], code: 'invalid-payload', reason: /got number/ },
    { name: 'message with unknown type', event: 'message', args: (r) => [r, { type: 'pranswer', sdp: 'x' }], code: 'invalid-payload', reason: /data.type/ },
    { name: 'sdp of wrong type', event: 'message', args: (r) => [r, { type: 'offer', sdp: 12 }], code: 'invalid-payload', reason: /sdp/ },
    {
      name: 'huge sdp (over MAX_SDP_LENGTH, under the frame limit)',
      event: 'message',
      args: (r) => [r, { type: 'offer', sdp: 'a'.repeat(MAX_SDP_LENGTH + 1) }],
      code: 'invalid-payload',
      reason: /sdp longer than/,
    },
    { name: 'candidate without m-line', event: 'message', args: (r) => [r, { type: 'candidate', candidate: 'candidate:1' }], code: 'invalid-payload', reason: /label\/sdpMLineIndex/ },
    { name: 'candidate too long', event: 'message', args: (r) => [r, { ...candidate, candidate: 'c'.repeat(2000) }], code: 'invalid-payload', reason: /candidate longer than/ },
    { name: 'state with wrong types', event: 'message', args: (r) => [r, { type: 'state', audioMuted: 'yes', videoOff: false, screen: false }], code: 'invalid-payload', reason: /audioMuted/ },
    { name: 'unknown event', event: 'hack', args: () => [1], code: 'invalid-payload', reason: /unknown event/ },
  ];

  it.each(cases)('$name → error $code with a reason, nothing relayed, state unchanged', async ({ event, args, code, reason }) => {
    const { room, a, b } = await pair();
    const bEvents = recordEvents(b);
    const before = JSON.stringify(await roomSnapshot(t, room));
    const err = nextEvent<[{ event: string; code: string; reason: string }]>(a, 'error');
    const res = (await emitAck(a, event, ...args(room))) as { ok: boolean; error: { code: string; reason: string; event: string } };
    expect(res.ok).toBe(false);
    expect(res.error.code).toBe(code);
    expect(res.error.reason).toMatch(reason);
    const [e] = await err;
    expect(e).toEqual(res.error);
    await sleep(50);
    expect(bEvents).toEqual([]);
    expect(JSON.stringify(await roomSnapshot(t, room))).toBe(before);
    // Still serving this socket: a valid message goes through.
    const m = nextEvent(b, 'message');
    a.emit('message', room, offer);
    await m;
    a.disconnect();
    b.disconnect();
  });

  it('refusals are counted by reason', () => {
    const s = t.server.signaling.counters;
    expect(s.refused['invalid-room']).toBeGreaterThanOrEqual(6);
    expect(s.refused['invalid-payload']).toBeGreaterThanOrEqual(9);
    expect(s.refused['unknown-event']).toBeGreaterThanOrEqual(1);
  });

  it('errors without an ack still produce the error event', async () => {
    const a = await t.connect();
    const err = nextEvent<[{ event: string; code: string }]>(a, 'error');
    emitRaw(a, 'join', 'not-a-room');
    expect((await err)[0]).toMatchObject({ event: 'join', code: 'invalid-room' });
    a.disconnect();
  });

  it('a frame larger than MAX_MESSAGE_BYTES closes only that connection; the room and server keep working', async () => {
    const { room, a, b } = await pair();
    const c = await pair();
    const closed = nextEvent<[string]>(a, 'disconnect', 5000);
    emitRaw(a, 'message', room, { type: 'offer', sdp: 'a'.repeat(MAX_MESSAGE_BYTES + 10) });
    await closed;
    // b sees a leave (bye), the other room is unaffected.
    const m = nextEvent<[string, unknown]>(c.b, 'message');
    c.a.emit('message', c.room, offer);
    expect(await m).toEqual([c.room, offer]);
    const fresh = await t.connect();
    const j = nextEvent(fresh, 'joined');
    fresh.emit('join', room);
    await j;
    for (const s of [b, c.a, c.b, fresh]) s.disconnect();
  });

  it('the per-socket rate limit refuses floods with rate-limited and recovers', async () => {
    const { room, a, b } = await pair();
    let delivered = 0;
    b.on('message', () => delivered++);
    const errors: Array<{ code: string }> = [];
    a.on('error', (e) => errors.push(e));
    for (let i = 0; i < 600; i++) a.emit('message', room, candidate);
    await sleep(500);
    expect(errors.some((e) => e.code === 'rate-limited')).toBe(true);
    expect(delivered).toBeGreaterThanOrEqual(200);
    expect(delivered).toBeLessThan(600);
    // After a pause the bucket refills.
    await sleep(1100);
    const m = nextEvent(b, 'message');
    a.emit('message', room, offer);
    await m;
    a.disconnect();
    b.disconnect();
  });
});

describe('transport', () => {
  it('serves the Socket.IO client bundle and accepts Engine.IO 3 (Socket.IO 2) handshakes, as the original demo needs', async () => {
    const js = await httpsGet(`${t.server.url}/socket.io/socket.io.js`);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    const eio3 = await httpsGet(`${t.server.url}/socket.io/?EIO=3&transport=polling`);
    expect(eio3.status).toBe(200);
    expect(eio3.body).toMatch(/"sid":"/);
  });

  it('works over HTTP long-polling too (HTTPS)', async () => {
    const a = await t.connect({ transports: ['polling'] });
    const b = await t.connect({ transports: ['polling'] });
    const room = newRoom();
    const ja = nextEvent(a, 'joined');
    a.emit('join', room);
    await ja;
    const other = nextEvent(a, 'otherjoin');
    b.emit('join', room);
    await other;
    const m = nextEvent<[string, unknown]>(b, 'message');
    a.emit('message', room, offer);
    expect(await m).toEqual([room, offer]);
    a.disconnect();
    b.disconnect();
  });
});
