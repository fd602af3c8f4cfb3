/**
 * The per-allocation bandwidth limit (`maxBps`, TURN_MAX_BPS, coturn's --max-bps), on both data
 * paths: a client and its peer flooding far over the limit get at most one second's worth plus the
 * rate through, each direction on its own, and the rest is dropped and counted (`over_bandwidth`);
 * another allocation of the same relay below the limit keeps 0 % loss both ways.
 */
import { afterEach, expect, it } from 'vitest';
import { TestClient, TestPeer, eachDataPath, restCreds, sleep, startRelay } from './helpers.js';

const RATE = 40_000; // bytes per second and direction
const FLOOD = 300; // datagrams of 1000 bytes each way: 7.5 times the limit, sent within ~0.3 s
const CALM = 40; // datagrams of 100 bytes each way, one per 20 ms (5 kB/s)

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

eachDataPath((dataPath) => {
  it('a flooding allocation is held to maxBps and the excess counted; another allocation keeps 0 % loss', async () => {
    const { relay, port } = await startRelay({ dataPath, maxBps: RATE });
    cleanup.push(() => relay.stop());
    const flooder = await TestClient.open(port, restCreds('flood'));
    const calm = await TestClient.open(port, restCreds('calm'));
    const floodPeer = await TestPeer.open();
    const calmPeer = await TestPeer.open();
    cleanup.push(() => [flooder, calm, floodPeer, calmPeer].forEach((x) => x.close()));
    const floodRelayed = await flooder.allocateRelayed();
    const calmRelayed = await calm.allocateRelayed();
    const started = Date.now(); // the buckets start full at allocation time
    await flooder.channelBind(0x4000, floodPeer.address);
    await calm.channelBind(0x4000, calmPeer.address);

    const big = Buffer.alloc(1000, 0x61);
    const flood = (async () => {
      for (let i = 0; i < FLOOD; i++) {
        flooder.sendChannelData(0x4000, big);
        floodPeer.send(floodRelayed, big);
        if (i % 25 === 24) await sleep(20); // paced so the kernel drops nothing on loopback
      }
    })();
    const steady = (async () => {
      for (let i = 0; i < CALM; i++) {
        calm.sendChannelData(0x4000, Buffer.alloc(100, i));
        calmPeer.send(calmRelayed, Buffer.alloc(100, i));
        await sleep(20);
      }
    })();
    await Promise.all([flood, steady]);
    await sleep(300);
    const elapsedS = (Date.now() - started) / 1000;

    // The calm allocation lost nothing, either way.
    expect(calmPeer.received).toHaveLength(CALM);
    expect(calm.received).toHaveLength(CALM);
    // The flood got at most one second's worth (the bucket) plus the rate for the time it ran, per direction.
    const allowed = Math.floor((RATE * (1 + elapsedS)) / 1000);
    const toPeer = floodPeer.received.length;
    const toClient = flooder.received.length;
    for (const n of [toPeer, toClient]) {
      expect(n).toBeGreaterThanOrEqual(RATE / 1000 - 1);
      expect(n).toBeLessThanOrEqual(allowed);
    }
    // Everything else was dropped and counted under one reason.
    const s = relay.stats();
    expect(s.dropped.over_bandwidth).toBe(2 * FLOOD - toPeer - toClient);
    expect(s.internalErrors).toBe(0);
    // The limit is per allocation: the calm one was never throttled.
    expect(s.relayed.clientToPeer.packets).toBe(toPeer + CALM);
    expect(s.relayed.peerToClient.packets).toBe(toClient + CALM);
  });
});
