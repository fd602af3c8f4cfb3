/**
 * Robustness of the native data path: thousands of random and mutated datagrams on listener and
 * relay sockets (the process survives, relaying still works, every datagram is accounted for),
 * 0–3 byte datagrams from peers, the per-allocation bandwidth limit, and 1,000 allocation
 * create/end cycles with the fd count back to its baseline.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Attr, StunClass, StunMethod, encodeMessage } from '../../turn/stun/index.js';
import { Udp, allocate, bindRelayIn, bindingRequest, channelData, dropped, fdCount, sendIndication, skipReason, sleep, startDataPath, until, type TestDataPath } from './native-helpers.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
});

/** Deterministic PRNG (mulberry32), so a failure can be replayed from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random or mutated datagram: pure noise, truncations, bit flips and length-field edits of valid messages. */
function fuzzDatagram(rnd: () => number, seeds: Buffer[]): Buffer {
  const pick = rnd();
  if (pick < 0.2) return randomBytes(Math.floor(rnd() * 64));
  const base = Buffer.from(seeds[Math.floor(rnd() * seeds.length)]!);
  const m = rnd();
  if (m < 0.25) return base.subarray(0, Math.floor(rnd() * base.length));
  if (m < 0.5) {
    for (let i = 0, n = 1 + Math.floor(rnd() * 4); i < n; i++) base[Math.floor(rnd() * base.length)]! ^= 1 << Math.floor(rnd() * 8);
    return base;
  }
  if (m < 0.75 && base.length >= 4) {
    base.writeUInt16BE(Math.floor(rnd() * 0x10000), 2);
    return base;
  }
  return Buffer.concat([base, randomBytes(Math.floor(rnd() * 16))]);
}

/**
 * Every datagram received is relayed (either way), handed to JavaScript, ignored (Binding
 * indication) or dropped under exactly one reason. Send errors are counted on top of a relayed
 * datagram, so they are left out.
 */
function accountedFor(t: TestDataPath): number {
  const s = t.dp.stats();
  const drops = Object.entries(s.dropped).reduce((n, [r, v]) => (r.endsWith('_send_error') ? n : n + v), 0);
  return s.c2pPackets + s.p2cPackets + s.toJs + s.ignored + drops;
}

describe.skipIf(skipReason !== undefined)('native data path: robustness', () => {
  it('survives thousands of fuzzed datagrams on listener and relay sockets; counters add up; relaying still works', async () => {
    const seed = Date.now() >>> 0;
    const rnd = prng(seed);
    const t = await startDataPath();
    const client = await Udp.open();
    const stranger = await Udp.open();
    const peer = await Udp.open();
    const outsider = await Udp.open('127.0.0.2');
    cleanup.push(() => t.close(), () => client.close(), () => stranger.close(), () => peer.close(), () => outsider.close());
    const a = await allocate(t, client);
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    t.dp.bindChannel(a.handle, 0x4000, '127.0.0.1', peer.port);
    const seeds = [
      channelData(0x4000, Buffer.from('channel data payload')),
      sendIndication(peer.address, Buffer.from('send indication payload')),
      sendIndication(peer.address, Buffer.from('with fingerprint')),
      encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, attributes: [Attr.xorPeerAddress(peer.address, Buffer.alloc(12)), Attr.data(Buffer.alloc(7))] }, { fingerprint: true }),
      bindingRequest(),
      encodeMessage({ method: StunMethod.Binding, cls: StunClass.Indication }),
    ];
    const N = 3000;
    let toListener = 0;
    let toRelayPermitted = 0;
    let toRelayOther = 0;
    for (let i = 0; i < N; i++) {
      const d = fuzzDatagram(rnd, seeds);
      const r = rnd();
      if (r < 0.4) {
        client.send(d, t.port);
        toListener++;
      } else if (r < 0.55) {
        stranger.send(d, t.port);
        toListener++;
      } else if (r < 0.85) {
        peer.send(d, a.relayPort);
        toRelayPermitted++;
      } else {
        outsider.send(d, a.relayPort);
        toRelayOther++;
      }
      if (i % 50 === 49) await sleep(2); // stay under the socket buffers: every datagram must arrive
    }
    // The allocate() Binding request is the one datagram before the fuzz.
    const accounted = () => ({ total: accountedFor(t) - 1, p2c: t.dp.stats().p2cPackets });
    const want = { total: N, p2c: toRelayPermitted };
    await until(() => accounted().total === N && accounted().p2c === toRelayPermitted, 10_000);
    expect(accounted(), `seed ${seed}`).toEqual(want);
    expect(t.dp.stats().dropped.peer_not_permitted ?? 0).toBeGreaterThanOrEqual(toRelayOther);
    expect(toListener).toBeGreaterThan(N / 3);
    // Handed-off packets are valid STUN requests only.
    for (const p of t.packets) expect(p.kind === 'stun' && (p.data[0]! & 0xc0) === 0 && p.data.length >= 20).toBe(true);
    // Still relaying.
    client.received.length = 0;
    peer.received.length = 0;
    client.send(channelData(0x4000, Buffer.from('after fuzz')), t.port);
    await until(() => peer.received.some((m) => m.data.toString() === 'after fuzz'));
    expect(peer.received.some((m) => m.data.toString() === 'after fuzz')).toBe(true);
    peer.send(Buffer.from('back after fuzz'), a.relayPort);
    await until(() => client.received.some((m) => m.data.equals(channelData(0x4000, Buffer.from('back after fuzz')))));
    expect(client.received.some((m) => m.data.equals(channelData(0x4000, Buffer.from('back after fuzz'))))).toBe(true);
  }, 60_000);

  it('relays 0–3 byte datagrams from a permitted peer and drops them from others', async () => {
    const t = await startDataPath();
    const client = await Udp.open();
    const peer = await Udp.open();
    const other = await Udp.open('127.0.0.3');
    cleanup.push(() => t.close(), () => client.close(), () => peer.close(), () => other.close());
    const a = await allocate(t, client);
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    t.dp.bindChannel(a.handle, 0x4000, '127.0.0.1', peer.port);
    for (let len = 0; len < 4; len++) {
      peer.send(Buffer.alloc(len, len), a.relayPort);
      other.send(Buffer.alloc(len, len), a.relayPort);
      expect((await client.next()).data.equals(channelData(0x4000, Buffer.alloc(len, len)))).toBe(true);
    }
    expect(await until(() => dropped(t, 'peer_not_permitted') === 4)).toBe(true);
  });

  it('limits a flooding allocation to its bandwidth while another keeps 0 % loss', async () => {
    const t = await startDataPath();
    const flooder = await Udp.open();
    const calm = await Udp.open();
    const peer = await Udp.open();
    cleanup.push(() => t.close(), () => flooder.close(), () => calm.close(), () => peer.close());
    const RATE = 100_000; // bytes per second
    const f = await allocate(t, flooder, { maxBps: RATE });
    const c = await allocate(t, calm, { maxBps: RATE });
    for (const x of [f, c]) {
      t.dp.installPermission(x.handle, '127.0.0.1', false);
      t.dp.bindChannel(x.handle, 0x4000, '127.0.0.1', peer.port);
    }
    const started = Date.now();
    const payload = Buffer.alloc(1000, 1);
    let calmSent = 0;
    // 2,000 × 1,000 bytes from the flooder in ~0.4 s (5 MB/s, 50× the limit); the calm client sends 20 kB/s.
    for (let i = 0; i < 2000; i++) {
      flooder.send(channelData(0x4000, payload), t.port);
      if (i % 100 === 0) {
        calm.send(channelData(0x4000, Buffer.from(`calm ${calmSent++}`)), t.port);
      }
      if (i % 25 === 24) await sleep(5);
    }
    await until(() => (t.dp.allocationCounters(f.handle)!.packetsToPeer + t.dp.allocationCounters(f.handle)!.droppedToPeer) === 2000 && t.dp.allocationCounters(c.handle)!.packetsToPeer === calmSent, 10_000);
    const elapsed = (Date.now() - started) / 1000;
    const fc = t.dp.allocationCounters(f.handle)!;
    const cc = t.dp.allocationCounters(c.handle)!;
    expect(fc.packetsToPeer + fc.droppedToPeer).toBe(2000);
    // At most one full bucket (one second of traffic, at least 64 KiB) plus the rate over the elapsed time.
    expect(fc.bytesToPeer).toBeLessThanOrEqual(Math.max(RATE, 65536) + RATE * elapsed + 1000);
    expect(fc.droppedToPeer).toBeGreaterThan(1000);
    expect(cc).toMatchObject({ packetsToPeer: calmSent, droppedToPeer: 0 });
    expect(dropped(t, 'over_bandwidth')).toBe(fc.droppedToPeer);
    await until(() => peer.received.filter((m) => m.data.toString().startsWith('calm')).length === calmSent);
    expect(peer.received.filter((m) => m.data.toString().startsWith('calm')).map((m) => m.data.toString())).toEqual(Array.from({ length: calmSent }, (_, i) => `calm ${i}`));
    // The other direction is limited too; lifting the limit lets everything through.
    expect(t.dp.setBandwidth(f.handle, 0)).toBe(true);
    flooder.received.length = 0;
    for (let i = 0; i < 200; i++) peer.send(payload, f.relayPort);
    expect(await until(() => t.dp.allocationCounters(f.handle)!.packetsFromPeer === 200)).toBe(true);
  }, 60_000);

  it('1,000 allocation create/end cycles and a full stop leave the fd count at its baseline', async () => {
    const baseline = fdCount();
    const t = await startDataPath();
    const client = await Udp.open();
    const a = await allocate(t, client);
    const during = fdCount();
    for (let i = 0; i < 1000; i++) {
      const r = bindRelayIn(t);
      const h = t.dp.createAllocation({ socket: r.socket, worker: i % 2, stream: i % 3 === 0, group: 0, clientIp: '127.0.0.2', clientPort: 10000 + i, transactionId: Buffer.alloc(12, i & 0xff) });
      expect(typeof h).toBe('number');
      t.dp.installPermission(h as number, '127.0.0.1', false);
      t.dp.bindChannel(h as number, 0x4000 + (i % 0x1000), '127.0.0.1', 9);
      if (i % 10 === 0) {
        const spare = bindRelayIn(t);
        expect(t.dp.closeRelay(spare.socket)).toBe(true);
      }
      expect(t.dp.endAllocation(h as number)).toBe(true);
    }
    expect(fdCount()).toBe(during);
    expect(t.dp.stats().allocations).toBe(1);
    expect(t.dp.endAllocation(a.handle)).toBe(true);
    // A bound socket never given to an allocation is closed by stop().
    bindRelayIn(t);
    t.close();
    client.close();
    await sleep(50);
    expect(fdCount()).toBe(baseline);
  }, 60_000);
});
