/**
 * A real call across two server nodes sharing Redis. Two headless Chromium peers load
 * the call page from DIFFERENT nodes (`node dist/server/main.js` with `REDIS_URL`), join the same
 * room, and media flows both ways: the offer/answer/candidates crossed nodes through the Socket.IO
 * Redis adapter. Run `npm run build` first.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { haveRedis, startRedis, type TestRedis } from '../server/redis-server.js';
import { joinCall, newRoom, waitForStatus } from './call-helpers.js';

if (!haveRedis) console.warn('\n!!! SKIPPING the Redis browser call test: redis-server is not installed (apt-get install redis-server) !!!\n');
if (!haveChromium) console.warn('\n!!! SKIPPING the Redis browser call test: /usr/bin/chromium is not installed !!!\n');

let redis: TestRedis | undefined;
const nodes: RunningServer[] = [];
const peers: Peer[] = [];

describe.skipIf(!haveRedis || !haveChromium)('call across two nodes on Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: `e2e-${randomBytes(4).toString('hex')}`, CLUSTER_NODE_TTL_MS: '2000' };
    const [n1, n2, a, b] = await Promise.all([startServer({ env }), startServer({ env }), launchPeer(), launchPeer()]);
    nodes.push(n1, n2);
    peers.push(a, b);
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close()));
    for (const n of nodes) {
      await n.stop();
      removeServerDirs(n);
    }
    await redis?.stop();
  });

  it('peer A on node 1 and peer B on node 2 in the same room: connected, media flows both ways', async () => {
    const [a, b] = peers as [Peer, Peer];
    const [n1, n2] = nodes as [RunningServer, RunningServer];
    expect(n1.url).not.toBe(n2.url);
    const room = newRoom();
    await a.page.goto(`${n1.url}/?room=${room}`);
    await joinCall(a);
    await waitForStatus(a, /waiting for the other person/i);
    await b.page.goto(`${n2.url}/?room=${room}`);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    // The signaling really went through both nodes: each logged its own member's join.
    expect(n1.output()).toMatch(new RegExp(`joined room=${room} socket=\\S+ members=1`));
    expect(n2.output()).toMatch(new RegExp(`joined room=${room} socket=\\S+ members=2`));
  });
});
