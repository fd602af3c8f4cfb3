/**
 * The web server wired to the REAL relay child (dist/turn/main.js, forked and supervised by the web
 * server): readiness, the TURN credentials a seated member gets with `joined` accepted by the relay
 * (STUN Binding and an authenticated TURN Allocate over UDP on loopback), relay stats in /metrics,
 * the admin API listing and ending the allocation, ending one seat's allocations by its REST user
 * id, revoking a static user (users file edited by the relay, its
 * allocation ended, its next Allocate refused), restart after the child is killed.
 * Needs `npm run build:server` (npm test builds first); skipped loudly otherwise.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IceServersResponse } from '../../server/iceServers.js';
import { hmacKey } from '../../turn/index.js';
import { Attr, AttributeType, StunClass, StunMethod, decodeMessage, encodeMessage, longTermKey, type StunMessage } from '../../turn/stun/index.js';
import { TestClient } from '../turn/helpers.js';
import { freeTcpPort, freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { nextEvent, startTestServer, type TestServer } from '../signaling/harness.js';
import type { IceServersInfo, JoinedInfo } from '../../contracts/signaling.js';
import { httpsGet } from './httpGet.js';

const relayJs = path.resolve('dist/turn/main.js');
const built = existsSync(relayJs);
if (!built) console.warn(`SKIPPED: ${relayJs} missing — run "npm run build:server" (npm test does) to test the relay wiring`);

const ADMIN = 'admin-token-wiring-0123456789';
const ICE_TOKEN = 'ice-token-wiring-0123456789';

/** Join `room` over signaling and return the TURN entry of the credentials that come with `joined`. */
async function seatCredentials(room: string): Promise<{ username: string; credential: string; ice: IceServersInfo }> {
  const s = await t.connect();
  const joined = nextEvent<[string, string, JoinedInfo]>(s, 'joined');
  s.emit('join', room);
  const ice = (await joined)[2].ice!;
  const turn = ice.iceServers.find((e) => (e.urls as string[]).some((u) => u.startsWith('turn:')))!;
  return { username: turn.username!, credential: turn.credential!, ice };
}
let t: TestServer;
let turnPort: number;
let range: { min: number; max: number };
let udp: UdpSocket;
let usersDir: string;
let usersFile: string;

function transact(msg: Buffer): Promise<StunMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no STUN response within 3 s')), 3000);
    udp.once('message', (buf) => {
      clearTimeout(timer);
      resolve(decodeMessage(buf));
    });
    udp.send(msg, turnPort, '127.0.0.1');
  });
}

const allocate = (attrs: Parameters<typeof encodeMessage>[0]['attributes'] = [], key?: Buffer) =>
  transact(
    encodeMessage(
      { method: StunMethod.Allocate, cls: StunClass.Request, attributes: [Attr.requestedTransport(), ...attrs] },
      { integrityKey: key, fingerprint: true },
    ),
  );

function httpsDelete(url: string, headers: Record<string, string>): Promise<number> {
  return httpsDeleteJson(url, headers).then((r) => r.status);
}

function httpsDeleteJson(url: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'DELETE', headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const metric = async (series: string) => {
  const body = (await httpsGet(`${t.server.url}/metrics`)).body;
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe.skipIf(!built)('web server + real relay child', () => {
  beforeAll(async () => {
    turnPort = await freeUdpTcpPort();
    range = randomRelayRange(20);
    usersDir = mkdtempSync(path.join(tmpdir(), 'wiring-users-'));
    usersFile = path.join(usersDir, 'turn-users.json');
    writeFileSync(usersFile, JSON.stringify({ version: 1, users: [{ name: 'carol', realm: 'wiring.test', key: hmacKey('carol', 'wiring.test', 'pw') }] }));
    t = await startTestServer(
      {
        TURN_ENABLED: 'true',
        TURN_LISTEN: '127.0.0.1',
        TURN_PORT: String(turnPort),
        TURN_TLS_PORT: String(await freeTcpPort()),
        TURN_MIN_PORT: String(range.min),
        TURN_MAX_PORT: String(range.max),
        TURN_ALLOWED_PEERS: '127.0.0.0/8',
        TURN_REALM: 'wiring.test',
        TURN_USERS_FILE: usersFile,
        ADMIN_TOKEN: ADMIN,
        ICE_TOKEN,
        LOG_LEVEL: 'error',
      },
      { relayModule: relayJs, waitForRelayMs: 15_000 },
    );
    udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    udp?.close();
    await t?.stop();
    if (usersDir) rmSync(usersDir, { recursive: true, force: true });
  });

  it('is ready once the relay child reports ready', async () => {
    expect(t.server.relay!.isReady()).toBe(true);
    const r = await httpsGet(`${t.server.url}/readyz`);
    expect(r.json()).toEqual({ status: 'ready', checks: { https: true, signaling: true, relay: true } });
  });

  it('hands out the relay URLs (TLS too: the relay uses the server certificate)', async () => {
    const body = (await httpsGet(`${t.server.url}/api/ice-servers`, { authorization: `Bearer ${ICE_TOKEN}` })).json<IceServersResponse>();
    expect((await seatCredentials('1001')).ice.iceServers.map((e) => e.urls)).toEqual(body.iceServers.map((e) => e.urls));
    expect(body.iceServers[0]!.urls).toEqual([`stun:127.0.0.1:${turnPort}`]);
    expect(body.iceServers[1]!.urls.slice(0, 2)).toEqual([`turn:127.0.0.1:${turnPort}?transport=udp`, `turn:127.0.0.1:${turnPort}?transport=tcp`]);
    expect(body.iceServers[1]!.urls[2]).toMatch(new RegExp(`^turns:127\\.0\\.0\\.1:\\d+\\?transport=tcp$`));
  });

  it('the relay answers STUN Binding', async () => {
    const res = await transact(encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request }, { fingerprint: true }));
    expect(res.cls).toBe(StunClass.SuccessResponse);
    expect(res.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS)?.port).toBe((udp.address() as { port: number }).port);
  });

  it("a seated member's REST credential (from joined) allocates on the relay; a forged one does not", async () => {
    const turn = await seatCredentials('1002');
    const challenge = await allocate();
    expect(challenge.cls).toBe(StunClass.ErrorResponse);
    expect(challenge.getErrorCode()?.code).toBe(401);
    const realm = challenge.getString(AttributeType.REALM)!;
    const nonce = challenge.getString(AttributeType.NONCE)!;
    expect(realm).toBe('wiring.test');

    const forged = await allocate(
      [Attr.username(turn.username!), Attr.realm(realm), Attr.nonce(nonce)],
      longTermKey(turn.username!, realm, 'not-the-credential'),
    );
    expect(forged.getErrorCode()?.code).toBe(401);

    const ok = await allocate([Attr.username(turn.username!), Attr.realm(realm), Attr.nonce(nonce)], longTermKey(turn.username!, realm, turn.credential!));
    expect(ok.cls).toBe(StunClass.SuccessResponse);
    const relayed = ok.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS)!;
    expect(relayed.port).toBeGreaterThanOrEqual(range.min);
    expect(relayed.port).toBeLessThanOrEqual(range.max);
  });

  it('relay stats reach /metrics; the admin API lists and ends the allocation', async () => {
    expect(await metric('webrtc_turn_up')).toBe(1);
    expect(await metric('webrtc_turn_allocations')).toBe(1);
    const auth = { authorization: `Bearer ${ADMIN}` };
    const list = (await httpsGet(`${t.server.url}/api/admin/relay/allocations`, auth)).json<{ allocations: Array<{ id: string; username: string }> }>();
    expect(list.allocations).toHaveLength(1);
    expect(list.allocations[0]!.username).toMatch(/^\d+:1002-[A-Za-z0-9_-]{16}$/);
    expect(await httpsDelete(`${t.server.url}/api/admin/relay/allocations/${encodeURIComponent(list.allocations[0]!.id)}`, auth)).toBe(200);
    expect(await metric('webrtc_turn_allocations')).toBe(0);
  });

  it("the admin API ends one seat's allocations by its REST user id (both made with different credentials of that seat)", async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const first = await seatCredentials('1003');
    const userId = first.username.split(':')[1]!;
    const other = await seatCredentials('1004');
    const a = await TestClient.open(turnPort, { username: first.username, password: first.credential });
    const b = await TestClient.open(turnPort, { username: other.username, password: other.credential });
    try {
      await a.allocateRelayed();
      await b.allocateRelayed();
      expect(await metric('webrtc_turn_allocations')).toBe(2);
      const r = await httpsDeleteJson(`${t.server.url}/api/admin/relay/rest-users/${userId}`, auth);
      expect(r).toEqual({ status: 200, body: { endedAllocations: 1 } });
      const list = (await httpsGet(`${t.server.url}/api/admin/relay/allocations`, auth)).json<{ allocations: Array<{ username: string }> }>();
      expect(list.allocations.map((x) => x.username)).toEqual([other.username]);
      expect((await a.refresh()).getErrorCode()?.code).toBe(437); // its allocation is gone
      expect((await httpsDeleteJson(`${t.server.url}/api/admin/relay/rest-users/${userId}`, auth)).status).toBe(404);
      expect((await httpsDeleteJson(`${t.server.url}/api/admin/relay/rest-users/bad:id`, auth)).status).toBe(400);
      await b.refresh(0);
    } finally {
      a.close();
      b.close();
    }
  });

  it("a member who leaves keeps no allocation: the seat's allocations end; the other member's stay", async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const join = async (room: string) => {
      const s = await t.connect();
      const joined = nextEvent<[string, string, JoinedInfo]>(s, 'joined');
      s.emit('join', room);
      const turn = (await joined)[2].ice!.iceServers.find((e) => (e.urls as string[]).some((u) => u.startsWith('turn:')))!;
      return { s, client: await TestClient.open(turnPort, { username: turn.username!, password: turn.credential! }) };
    };
    const leaver = await join('1005');
    const stayer = await join('1005');
    try {
      await leaver.client.allocateRelayed();
      await stayer.client.allocateRelayed();
      expect(await metric('webrtc_turn_allocations')).toBe(2);
      const leaved = nextEvent(leaver.s, 'leaved');
      leaver.s.emit('leave', '1005');
      await leaved;
      const deadline = Date.now() + 5000;
      while ((await metric('webrtc_turn_allocations')) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const list = (await httpsGet(`${t.server.url}/api/admin/relay/allocations`, auth)).json<{ allocations: Array<{ username: string }> }>();
      expect(list.allocations.map((x) => x.username)).toEqual([stayer.client.credentials!.username]);
      expect((await leaver.client.refresh()).getErrorCode()?.code).toBe(437);
      expect((await stayer.client.refresh()).cls).toBe(StunClass.SuccessResponse);
      await stayer.client.refresh(0);
    } finally {
      leaver.client.close();
      stayer.client.close();
      leaver.s.disconnect();
      stayer.s.disconnect();
    }
  });

  it('revoking a static user: the relay edits the users file and ends its allocation; it cannot allocate again', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const carol = await TestClient.open(turnPort, { username: 'carol', password: 'pw' });
    try {
      await carol.allocateRelayed();
      const r = await httpsDeleteJson(`${t.server.url}/api/admin/relay/users/carol`, auth);
      expect(r).toEqual({ status: 200, body: { removed: true, endedAllocations: 1 } });
      expect(JSON.parse(readFileSync(usersFile, 'utf8')).users).toEqual([]);
      const list = (await httpsGet(`${t.server.url}/api/admin/relay/allocations`, auth)).json<{ allocations: Array<{ username: string }> }>();
      expect(list.allocations.filter((a) => a.username === 'carol')).toEqual([]);
      // At once, not after a poll of the file: the next Allocate with the revoked user is refused.
      expect((await carol.refresh()).getErrorCode()?.code).toBe(401);
      expect((await carol.allocate()).getErrorCode()?.code).toBe(401);
      expect((await httpsDeleteJson(`${t.server.url}/api/admin/relay/users/carol`, auth)).status).toBe(404);
    } finally {
      carol.close();
    }
  });

  it('a killed relay child is restarted and becomes ready again', async () => {
    const pid = t.server.relay!.status().pid!;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 15_000;
    while (!(t.server.relay!.isReady() && t.server.relay!.status().pid !== pid)) {
      if (Date.now() > deadline) throw new Error('relay not restarted');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(t.server.relay!.status().restarts).toBe(1);
    expect((await httpsGet(`${t.server.url}/readyz`)).status).toBe(200);
    const res = await transact(encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request }, { fingerprint: true }));
    expect(res.cls).toBe(StunClass.SuccessResponse);
  });
});
