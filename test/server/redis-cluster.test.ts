/**
 * Scale-out of signaling on Redis: two real server processes (`node dist/server/main.js`,
 * `npm run build:server` first) sharing a throwaway redis-server. Peers connected to different
 * nodes are in the same call; capacity stays two under concurrent joins spread over both nodes;
 * the seat grace period works across nodes; a SIGKILLed node's seats are reclaimed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsGet, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { nextEvent, raceJoin, recordEvents, sleep, type ClientSocket } from '../signaling/harness.js';
import { connectTo, haveRedis, startRedis, startRedisOnPort, type TestRedis } from './redis-server.js';

if (!haveRedis) {
  console.warn('\n!!! SKIPPING Redis scale-out tests: redis-server is not installed (apt-get install redis-server) !!!\n');
}

const GRACE_MS = 1000;
const NODE_TTL_MS = 900;
const PREFIX = `test-${randomBytes(4).toString('hex')}`;

let redis: TestRedis;
let n1: RunningServer;
let n2: RunningServer;
const sockets: ClientSocket[] = [];
let roomSeq = 700_000 + Math.floor(Math.random() * 10_000) * 10;
const newRoom = () => String(++roomSeq);
const token = () => randomBytes(16).toString('base64url');

async function on(node: RunningServer): Promise<ClientSocket> {
  const s = await connectTo(node.url);
  sockets.push(s);
  return s;
}

type JoinedArgs = [string, string, { polite: boolean; members: number; resumed?: boolean }];

function join(s: ClientSocket, room: string, session?: string, timeoutMs = 3000): Promise<JoinedArgs> {
  const j = nextEvent<JoinedArgs>(s, 'joined', timeoutMs);
  if (session) s.emit('join', room, { session });
  else s.emit('join', room);
  return j;
}

/** a (node x) joins, then b (node y); resolves when b has joined and a has otherjoin. */
async function pair(room: string, a: ClientSocket, b: ClientSocket, sa?: string, sb?: string) {
  await join(a, room, sa);
  const other = nextEvent<[string, string]>(a, 'otherjoin');
  const jb = await join(b, room, sb);
  expect(await other).toEqual([room, b.id]);
  return jb;
}

/** Seats of a room as stored in Redis (parsed from the raw RESP reply). */
async function storedSeats(room: string): Promise<Array<{ s: string; c: boolean; n: string }>> {
  const reply = await redis.command('GET', `${PREFIX}:room:${room}`);
  if (reply.startsWith('$-1')) return [];
  return JSON.parse(reply.split('\r\n')[1]!);
}

const env = () => ({
  REDIS_URL: redis.url,
  REDIS_PREFIX: PREFIX,
  SEAT_GRACE_MS: String(GRACE_MS),
  CLUSTER_NODE_TTL_MS: String(NODE_TTL_MS),
  TURN_ENABLED: 'false',
});

describe.skipIf(!haveRedis)('signaling on two nodes sharing Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
    [n1, n2] = await Promise.all([startServer({ env: env() }), startServer({ env: env() })]);
  });

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    for (const n of [n1, n2]) {
      if (!n) continue;
      await n.stop();
      removeServerDirs(n);
    }
    await redis?.stop();
  });

  it('a server with an unreachable REDIS_URL refuses to start with a clear message', async () => {
    await expect(startServer({ env: { ...env(), REDIS_URL: 'redis://127.0.0.1:1' }, timeoutMs: 20_000 })).rejects.toThrow(/cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/);
  });

  it('peers on different nodes in the same room: joined/otherjoin, offer/answer/candidates relayed, leave → bye', async () => {
    const room = newRoom();
    const a = await on(n1);
    const b = await on(n2);
    const [r1, id1, info1] = await join(a, room);
    expect([r1, id1, info1]).toEqual([room, a.id, { polite: false, members: 1 }]);
    const other = nextEvent<[string, string]>(a, 'otherjoin');
    const [, , info2] = await join(b, room);
    expect(info2).toEqual({ polite: true, members: 2 });
    expect(await other).toEqual([room, b.id]);

    const offer = nextEvent<[string, unknown]>(b, 'message');
    a.emit('message', room, { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' });
    expect(await offer).toEqual([room, { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' }]);
    const answer = nextEvent<[string, unknown]>(a, 'message');
    b.emit('message', room, { type: 'answer', sdp: 'v=0' });
    expect((await answer)[1]).toEqual({ type: 'answer', sdp: 'v=0' });
    const cand = { type: 'candidate' as const, label: 0, id: '0', candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host' };
    const got = nextEvent<[string, unknown]>(b, 'message');
    a.emit('message', room, cand);
    expect((await got)[1]).toEqual(cand);

    // A third person on either node is refused.
    const c = await on(n1);
    const full = nextEvent(c, 'full');
    c.emit('join', room);
    await full;

    const bye = nextEvent<[string, string]>(b, 'bye');
    a.emit('leave', room);
    expect(await bye).toEqual([room, a.id]);
    expect((await storedSeats(room)).map((s) => s.s)).toEqual([b.id]);
  });

  it('20 concurrent joiners spread over both nodes → exactly 2 seated, 18 full (5 rooms)', async () => {
    for (let round = 0; round < 5; round++) {
      const room = newRoom();
      const joiners = await Promise.all(Array.from({ length: 20 }, (_, i) => on(i % 2 === 0 ? n1 : n2)));
      const outcomes = await raceJoin(joiners, room);
      expect(outcomes.filter((o) => o === 'joined')).toHaveLength(2);
      expect(outcomes.filter((o) => o === 'full')).toHaveLength(18);
      const seats = await storedSeats(room);
      expect(seats).toHaveLength(2);
      // Opposite roles.
      expect(new Set(seats.map((s) => (s as unknown as { p: boolean }).p)).size).toBe(2);
      for (const s of joiners) s.disconnect();
    }
  });

  it('grace period across nodes: b (node 2) drops, resumes on node 1 with its token; messages flow again', async () => {
    const room = newRoom();
    const tb = token();
    const a = await on(n1);
    const b = await on(n2);
    await pair(room, a, b, token(), tb);
    const bId = b.id;
    const aEvents = recordEvents(a);
    const reconnecting = nextEvent<[string, string, number]>(a, 'otherreconnecting');
    b.disconnect();
    expect(await reconnecting).toEqual([room, bId, GRACE_MS]);

    // The held seat is not free.
    const c = await on(n2);
    const full = nextEvent(c, 'full');
    c.emit('join', room);
    await full;

    const b2 = await on(n1);
    const otherjoin = nextEvent<[string, string]>(a, 'otherjoin');
    const [, id, info] = await join(b2, room, tb);
    expect(id).toBe(b2.id);
    expect(info).toEqual({ polite: true, members: 2, resumed: true });
    expect(await otherjoin).toEqual([room, b2.id]);
    const m = nextEvent<[string, unknown]>(b2, 'message');
    a.emit('message', room, { type: 'offer', sdp: 'v=0' });
    expect((await m)[1]).toEqual({ type: 'offer', sdp: 'v=0' });
    await sleep(GRACE_MS + NODE_TTL_MS);
    expect(aEvents.map((e) => e.event)).not.toContain('bye');
  });

  it('the same token on another node takes the seat over from a stale connection (old socket dropped, no bye)', async () => {
    const room = newRoom();
    const tb = token();
    const a = await on(n1);
    const b = await on(n1);
    await pair(room, a, b, token(), tb);
    const aEvents = recordEvents(a);
    const oldClosed = nextEvent(b, 'disconnect');
    const otherjoin = nextEvent<[string, string]>(a, 'otherjoin');
    const b2 = await on(n2);
    const [, , info] = await join(b2, room, tb);
    expect(info).toMatchObject({ resumed: true, members: 2 });
    await oldClosed;
    expect(await otherjoin).toEqual([room, b2.id]);
    await sleep(300);
    expect(aEvents.map((e) => e.event)).toEqual(['otherjoin']);
    expect((await storedSeats(room)).map((s) => s.s).sort()).toEqual([a.id, b2.id].sort());
  });

  it('without a resume the member on the other node gets bye after the grace period, and the seat is free', async () => {
    const room = newRoom();
    const a = await on(n1);
    const b = await on(n2);
    await pair(room, a, b, token(), token());
    const bId = b.id;
    const t0 = Date.now();
    const bye = nextEvent<[string, string]>(a, 'bye', GRACE_MS + 3000);
    b.disconnect();
    expect(await bye).toEqual([room, bId]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(GRACE_MS - 50);
    const c = await on(n2);
    const [, , info] = await join(c, room);
    expect(info).toEqual({ polite: true, members: 2 });
  });

  it('graceful stop (SIGTERM) of a third node: its member gets restarting, the other member otherreconnecting, and the member resumes on node 1', async () => {
    const n3 = await startServer({ env: env() });
    try {
      const room = newRoom();
      const tb = token();
      const a = await on(n1);
      const b = await on(n3);
      await pair(room, a, b, token(), tb);
      const aEvents = recordEvents(a);
      const restarting = nextEvent(b, 'restarting', 5000);
      const reconnecting = nextEvent<[string, string, number]>(a, 'otherreconnecting', 5000);
      const bId = b.id;
      const stopped = n3.stop();
      await restarting;
      expect(await reconnecting).toEqual([room, bId, GRACE_MS]);
      expect(await stopped).toBe(0);
      const b2 = await on(n1);
      const otherjoin = nextEvent<[string, string]>(a, 'otherjoin');
      const [, , info] = await join(b2, room, tb);
      expect(info).toEqual({ polite: true, members: 2, resumed: true });
      expect(await otherjoin).toEqual([room, b2.id]);
      await sleep(GRACE_MS + NODE_TTL_MS);
      expect(aEvents.map((e) => e.event)).toEqual(['otherreconnecting', 'otherjoin']);
    } finally {
      await n3.stop();
      removeServerDirs(n3);
    }
  });

  it('SIGKILL of node 2: its members seats are held for the grace period, then freed (bye); new joiners are seated', async () => {
    const held = newRoom();
    const plain = newRoom();
    const a = await on(n1);
    const b = await on(n2);
    await pair(held, a, b, token(), token());
    const a2 = await on(n1);
    const b2 = await on(n2);
    await pair(plain, a2, b2);
    const bId = b.id;
    const b2Id = b2.id;

    const reconnecting = nextEvent<[string, string, number]>(a, 'otherreconnecting', NODE_TTL_MS * 3 + 3000);
    const bye = nextEvent<[string, string]>(a, 'bye', NODE_TTL_MS * 3 + GRACE_MS + 5000);
    const plainBye = nextEvent<[string, string]>(a2, 'bye', NODE_TTL_MS * 3 + 3000);
    const t0 = Date.now();
    n2.kill('SIGKILL');
    await n2.exited;

    // Without a session token: freed as soon as the node is found dead.
    expect(await plainBye).toEqual([plain, b2Id]);
    // With a token: held (the person may come back on node 1), then freed after the grace period.
    expect(await reconnecting).toEqual([held, bId, GRACE_MS]);
    const tHeld = Date.now();
    const c0 = await on(n1);
    const full = nextEvent(c0, 'full');
    c0.emit('join', held);
    await full;
    expect(await bye).toEqual([held, bId]);
    expect(Date.now() - tHeld).toBeGreaterThanOrEqual(GRACE_MS - 200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(GRACE_MS);

    for (const room of [held, plain]) {
      const c = await on(n1);
      const [, , info] = await join(c, room);
      expect(info).toEqual({ polite: true, members: 2 });
    }
    // The dead node is forgotten, and node 1 counted what it reclaimed.
    expect(await redis.command('SCARD', `${PREFIX}:nodes`)).toBe(':1\r\n');
    const metrics = (await httpsGet(`${n1.url}/metrics`)).body;
    const cluster = metrics.split('\n').filter((l) => l.startsWith('webrtc_cluster_'));
    // b, b2, and the seats still held by node 2's sockets from the tests above.
    const reclaimed = Number(/^webrtc_cluster_reclaimed_seats_total (\d+)$/m.exec(metrics)?.[1]);
    expect(reclaimed, cluster.join('\n')).toBeGreaterThanOrEqual(2);
    expect(cluster.find((l) => l.startsWith('webrtc_cluster_heartbeats_total{result="ok"}'))).toMatch(/ [1-9]\d*$/);
  });
});

describe.skipIf(!haveRedis)('a node while Redis is down', () => {
  let r: TestRedis;
  let node: RunningServer;
  beforeAll(async () => {
    r = await startRedis();
    node = await startServer({ env: { REDIS_URL: r.url, REDIS_PREFIX: `down-${PREFIX}`, CLUSTER_NODE_TTL_MS: '900', TURN_ENABLED: 'false' } });
  });
  afterAll(async () => {
    await node?.stop();
    if (node) removeServerDirs(node);
    await r?.stop();
  });

  it('refuses joins with an error (no crash, no hang), and works again once Redis is back', async () => {
    const a = await on(node);
    await join(a, newRoom());
    await r.stop();
    const b = await on(node);
    const err = nextEvent<[{ event: string; reason: string }]>(b, 'error', 5000);
    b.emit('join', newRoom());
    expect((await err)[0]).toMatchObject({ event: 'join', reason: 'internal error' });
    expect(node.proc.exitCode).toBeNull();

    // Same port, empty Redis: the node reconnects and re-registers at its next heartbeat.
    const again = await startRedisOnPort(r.port);
    r = again;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const c = await on(node);
      const room = newRoom();
      const ok = await Promise.race([join(c, room, undefined, 1500).then(() => true), nextEvent(c, 'error', 1500).then(() => false)]).catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error('joins still refused 15 s after Redis came back');
      await sleep(300);
    }
    // Relaying between two members works again (the adapter re-subscribed).
    const room = newRoom();
    const x = await on(node);
    const y = await on(node);
    await pair(room, x, y);
    const m = nextEvent<[string, unknown]>(y, 'message');
    x.emit('message', room, { type: 'offer', sdp: 'v=0' });
    expect((await m)[1]).toEqual({ type: 'offer', sdp: 'v=0' });
  });
});
