/**
 * TURN credentials only for people in a call: a seated member gets them with `joined` and renews
 * them with `ice-servers`; a socket that is not seated (or seated in another room, or turned away
 * as the third joiner) gets none; `GET /api/ice-servers` serves only holders of ICE_TOKEN — also
 * from loopback; refusals are counted in /metrics. Over the real HTTPS + Socket.IO stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IceServersInfo, JoinedInfo } from '../../contracts/signaling.js';
import { restPassword } from '../../turn/index.js';
import { httpsGet } from '../server/httpGet.js';
import { emitAck, nextEvent, recordEvents, startTestServer, type ClientSocket, type TestServer } from './harness.js';

const SECRET = 'turn-credentials-test-secret-0123456789';
const ICE_TOKEN = 'ice-token-for-testers-0123456789';
let t: TestServer;
let roomSeq = 700_000;
const newRoom = () => String(++roomSeq);

beforeAll(async () => {
  // A relay host of our own (TURN_PUBLIC_HOST): credentials are minted without a relay child.
  t = await startTestServer({ TURN_PUBLIC_HOST: 'turn.example.com', TURN_SECRET: SECRET, ICE_TOKEN });
});
afterAll(async () => {
  await t?.stop();
});

async function join(s: ClientSocket, room: string, session?: string): Promise<JoinedInfo> {
  const joined = nextEvent<[string, string, JoinedInfo]>(s, 'joined');
  if (session) s.emit('join', room, { session });
  else s.emit('join', room);
  return (await joined)[2];
}

function turnEntry(ice: IceServersInfo | undefined) {
  const e = ice?.iceServers.find((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => u.startsWith('turn:')));
  if (!e) throw new Error(`no TURN entry in ${JSON.stringify(ice)}`);
  return e as { urls: string[]; username: string; credential: string };
}

async function metric(name: string, label: string): Promise<number> {
  const body = (await httpsGet(`${t.server.url}/metrics`)).body;
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${label}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('credentials over signaling', () => {
  it('a seated member gets credentials with joined, named after its seat, and renews them', async () => {
    const room = newRoom();
    const a = await t.connect();
    const session = 'session-token-of-a-0123456789';
    const info = await join(a, room, session);
    expect(info.ice?.ttl).toBe(600);
    const turn = turnEntry(info.ice);
    expect(turn.urls).toContain('turn:turn.example.com:3478?transport=udp');
    const [expiry, userId] = turn.username.split(':');
    expect(Number(expiry)).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 590);
    expect(userId).toMatch(new RegExp(`^${room}-[A-Za-z0-9_-]{16}$`));
    expect(userId).not.toContain(session);
    expect(turn.credential).toBe(restPassword(SECRET, turn.username));

    const renewed = (await emitAck(a, 'ice-servers', room)) as { ok: true } & IceServersInfo;
    expect(renewed.ok).toBe(true);
    expect(renewed.ttl).toBe(600);
    const again = turnEntry(renewed);
    expect(again.username.split(':')[1]).toBe(userId); // the same seat, the same user id
    expect(again.credential).toBe(restPassword(SECRET, again.username));

    // Another tab of the same session after a reload keeps the user id (resumed seat).
    a.disconnect();
    const a2 = await t.connect();
    const resumed = await join(a2, room, session);
    expect(resumed.resumed).toBe(true);
    expect(turnEntry(resumed.ice).username.split(':')[1]).toBe(userId);
    a2.disconnect();
  });

  it('a socket that is not seated gets no credentials: not-a-member, no error leaks them', async () => {
    const room = newRoom();
    const before = await metric('webrtc_ice_credentials_refused_total', 'reason="not-a-member"');
    const stranger = await t.connect();
    const events = recordEvents(stranger);
    const res = (await emitAck(stranger, 'ice-servers', room)) as { ok: boolean; error?: { code: string; event: string } };
    expect(res).toMatchObject({ ok: false, error: { code: 'not-a-member', event: 'ice-servers' } });
    expect(JSON.stringify(res)).not.toContain('turn:');

    // Seated in another room: still not a member of this one.
    const a = await t.connect();
    await join(a, room);
    const other = newRoom();
    await join(stranger, other);
    const res2 = (await emitAck(stranger, 'ice-servers', room)) as { ok: boolean; error?: { code: string } };
    expect(res2).toMatchObject({ ok: false, error: { code: 'not-a-member' } });
    // After leaving, the former member gets nothing either.
    const left = nextEvent(stranger, 'leaved');
    stranger.emit('leave', other);
    await left;
    const res3 = (await emitAck(stranger, 'ice-servers', other)) as { ok: boolean; error?: { code: string } };
    expect(res3).toMatchObject({ ok: false, error: { code: 'not-a-member' } });
    expect(events.some((e) => JSON.stringify(e.args).includes('turn:turn.example.com') && e.event !== 'joined')).toBe(false);
    expect(await metric('webrtc_ice_credentials_refused_total', 'reason="not-a-member"')).toBe(before + 3);
    a.disconnect();
    stranger.disconnect();
  });

  it('the third joiner gets full and no credentials', async () => {
    const room = newRoom();
    const a = await t.connect();
    const b = await t.connect();
    const c = await t.connect();
    await join(a, room);
    await join(b, room);
    const events = recordEvents(c);
    const full = nextEvent(c, 'full');
    c.emit('join', room);
    await full;
    expect(JSON.stringify(events)).not.toContain('turn:');
    expect(((await emitAck(c, 'ice-servers', room)) as { ok: boolean }).ok).toBe(false);
    for (const s of [a, b, c]) s.disconnect();
  });

  it('counts credentials handed out with joined and on renewal', async () => {
    const joined = await metric('webrtc_ice_credentials_issued_total', 'via="joined"');
    const renewal = await metric('webrtc_ice_credentials_issued_total', 'via="renewal"');
    const room = newRoom();
    const a = await t.connect();
    await join(a, room);
    await emitAck(a, 'ice-servers', room);
    expect(await metric('webrtc_ice_credentials_issued_total', 'via="joined"')).toBe(joined + 1);
    expect(await metric('webrtc_ice_credentials_issued_total', 'via="renewal"')).toBe(renewal + 1);
    a.disconnect();
  });
});

describe('GET /api/ice-servers (testers)', () => {
  it('without the token: no credentials, from loopback too (401 with a code)', async () => {
    const before = await metric('webrtc_ice_credentials_refused_total', 'reason="token-required"');
    const r = await httpsGet(`${t.server.url}/api/ice-servers`); // from 127.0.0.1
    expect(r.status).toBe(401);
    expect(r.json()).toMatchObject({ code: 'token-required' });
    expect(r.body).not.toContain('turn:');
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    // X-Forwarded-For / a loopback Host change nothing.
    const spoofed = await httpsGet(`${t.server.url}/api/ice-servers`, { 'x-forwarded-for': '127.0.0.1', host: 'localhost' });
    expect(spoofed.status).toBe(401);
    const wrong = await httpsGet(`${t.server.url}/api/ice-servers`, { authorization: 'Bearer not-the-ice-token-0000000' });
    expect(wrong.status).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'wrong-token' });
    expect(await metric('webrtc_ice_credentials_refused_total', 'reason="token-required"')).toBe(before + 2);
    expect(await metric('webrtc_ice_credentials_refused_total', 'reason="wrong-token"')).toBeGreaterThanOrEqual(1);
  });

  it('with the token: credentials of a tester user id', async () => {
    const r = await httpsGet(`${t.server.url}/api/ice-servers`, { authorization: `Bearer ${ICE_TOKEN}` });
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const body = r.json<IceServersInfo>();
    const turn = turnEntry(body);
    expect(turn.username).toMatch(/^\d+:tester-[0-9a-f]{12}$/);
    expect(turn.credential).toBe(restPassword(SECRET, turn.username));
    expect(await metric('webrtc_ice_credentials_issued_total', 'via="http"')).toBeGreaterThanOrEqual(1);
  });

  it('without ICE_TOKEN configured the endpoint serves nobody (403)', async () => {
    const t2 = await startTestServer({ TURN_PUBLIC_HOST: 'turn.example.com', TURN_SECRET: SECRET });
    try {
      const r = await httpsGet(`${t2.server.url}/api/ice-servers`, { authorization: `Bearer ${ICE_TOKEN}` });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ code: 'ice-token-unset' });
      expect(r.body).not.toContain('turn:');
    } finally {
      await t2.stop();
    }
  });
});
