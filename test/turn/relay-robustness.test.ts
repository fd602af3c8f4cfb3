/**
 * Hostile input and resource hygiene over real sockets: random/truncated datagrams, allocation
 * churn without fd leaks, stop() without leftover handles, quotas, and the unauthenticated flood limit.
 */
import { readdirSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Attr, StunClass, StunMethod, encodeChannelData, encodeMessage, newTransactionId } from '../../turn/stun/index.js';
import { TestClient, TestPeer, eachDataPath, restCreds, sleep, startRelay } from './helpers.js';
import { freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { createTurnServer } from '../../turn/index.js';

eachDataPath((dataPath) => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  function fdCount(): number {
    return readdirSync('/proc/self/fd').length;
  }

  /** 10,000 hostile datagrams: random bytes, truncated/corrupted STUN, bad ChannelData. */
  function hostileDatagrams(n: number): Buffer[] {
    const valid = encodeMessage(
      { method: StunMethod.Allocate, cls: StunClass.Request, attributes: [Attr.requestedTransport(), Attr.username('x'), Attr.realm('r'), Attr.nonce('n'), Attr.lifetime(600)] },
      { integrityKey: Buffer.alloc(16), fingerprint: true },
    );
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const kind = i % 6;
      if (kind === 0) out.push(randomBytes(Math.floor(Math.random() * 120)));
      else if (kind === 1) out.push(valid.subarray(0, Math.floor(Math.random() * valid.length)));
      else if (kind === 2) {
        const b = Buffer.from(valid);
        for (let k = 0; k < 3; k++) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
        out.push(b);
      } else if (kind === 3) {
        // ChannelData claiming more bytes than present, or tiny.
        const b = randomBytes(Math.floor(Math.random() * 8));
        if (b.length > 0) b[0] = 0x40 | (b[0]! & 0x0f);
        out.push(b);
      } else if (kind === 4) {
        // STUN header with a valid cookie and random attribute soup.
        const body = randomBytes(4 * Math.floor(Math.random() * 20));
        const h = Buffer.alloc(20);
        h.writeUInt16BE(Math.floor(Math.random() * 0x3fff), 0);
        h.writeUInt16BE(body.length, 2);
        h.writeUInt32BE(0x2112a442, 4);
        out.push(Buffer.concat([h, body]));
      } else out.push(Buffer.alloc(Math.floor(Math.random() * 2)));
    }
    return out;
  }

  async function blast(target: { address: string; port: number }, datagrams: Buffer[], from = '127.0.0.1'): Promise<void> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, from, r));
    for (let i = 0; i < datagrams.length; i++) {
      s.send(datagrams[i]!, target.port, target.address);
      if (i % 50 === 49) await sleep(1);
    }
    await sleep(100);
    s.close();
  }

  describe('hostile input', () => {
    it('10,000 random/truncated datagrams to the listening port and to a relayed port: still alive, allocation still works', async () => {
      const { relay, port } = await startRelay({ dataPath });
      cleanup.push(() => relay.stop());
      const c = await TestClient.open(port, restCreds());
      cleanup.push(() => c.close());
      const p = await TestPeer.open();
      cleanup.push(() => p.close());
      const relayed = await c.allocateRelayed();
      await c.channelBind(0x4000, p.address);

      await blast({ address: '127.0.0.1', port }, hostileDatagrams(10_000));
      // To the relayed port: from a non-permitted IP and from the permitted peer's IP.
      await blast(relayed, hostileDatagrams(5_000), '127.0.0.2');
      await blast(relayed, hostileDatagrams(5_000), '127.0.0.1');
      // The client got whatever the permitted IP sent (as Data indications), and nothing crashed.
      const stats = relay.stats();
      expect(stats.internalErrors).toBe(0);
      expect(stats.dropped.peer_not_permitted).toBeGreaterThan(2500); // the kernel may drop some of a burst
      const droppedTotal = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
      expect(droppedTotal).toBeGreaterThan(8000);

      c.received.length = 0;
      c.sendChannelData(0x4000, Buffer.from('still here'));
      expect((await p.next()).data.toString()).toBe('still here');
      p.send(relayed, Buffer.from('and back'));
      const back = await c.nextReceived(2000, (r) => r.kind === 'channel' && r.data.toString() === 'and back');
      expect(back.kind).toBe('channel');
      expect((await c.refresh()).cls).toBe(StunClass.SuccessResponse);
    });

    it('0- to 3-byte datagrams from a permitted peer are relayed (Data indication and ChannelData), not a crash', async () => {
      const { relay, port } = await startRelay({ dataPath });
      cleanup.push(() => relay.stop());
      const c = await TestClient.open(port, restCreds());
      cleanup.push(() => c.close());
      const p = await TestPeer.open();
      cleanup.push(() => p.close());
      const relayed = await c.allocateRelayed();
      await c.createPermission(p.address);
      const tiny = [Buffer.alloc(0), Buffer.from([7]), Buffer.from([7, 8]), Buffer.from([7, 8, 9])];
      for (const d of tiny) p.send(relayed, d);
      const viaData = await Promise.all(tiny.map(() => c.nextReceived()));
      expect(viaData.map((r) => `${r.kind}:${r.data.toString('hex')}`).sort()).toEqual(['data:', 'data:07', 'data:0708', 'data:070809']);
      await c.channelBind(0x4000, p.address);
      for (const d of tiny) p.send(relayed, d);
      const viaChannel = await Promise.all(tiny.map(() => c.nextReceived()));
      expect(viaChannel.map((r) => `${r.kind}:${r.data.toString('hex')}`).sort()).toEqual(['channel:', 'channel:07', 'channel:0708', 'channel:070809']);
      expect(relay.stats().internalErrors).toBe(0);
    });
  });

  describe('resource hygiene', () => {
    it('1,000 allocate/delete cycles leak no sockets', async () => {
      const { relay, port } = await startRelay({ dataPath, userQuota: 0 });
      cleanup.push(() => relay.stop());
      const c = await TestClient.open(port, restCreds());
      cleanup.push(() => c.close());
      await c.allocateRelayed();
      expect((await c.refresh(0)).cls).toBe(StunClass.SuccessResponse);
      const before = fdCount();
      for (let i = 0; i < 1000; i++) {
        const res = await c.allocate();
        expect(res.cls).toBe(StunClass.SuccessResponse);
        expect((await c.refresh(0)).cls).toBe(StunClass.SuccessResponse);
      }
      expect(fdCount()).toBe(before);
      expect(relay.stats().relayPortsInUse).toBe(0);
      expect(relay.listAllocations()).toHaveLength(0);
    }, 60_000);

    it('stop() closes every socket and timer it opened', async () => {
      const types = () => process.getActiveResourcesInfo().filter((t) => t !== 'TTYWrap' && t !== 'FSReqCallback');
      const count = (list: string[]) => list.reduce<Record<string, number>>((m, t) => ((m[t] = (m[t] ?? 0) + 1), m), {});
      // The test runner may hold a short timer of its own at this point: let it fire first.
      for (let i = 0; i < 50 && types().includes('Timeout'); i++) await sleep(20);
      const baseFds = fdCount();
      const baseline = count(types());
      const usersFile = `/tmp/turn-users-${process.pid}-${Date.now()}.json`;
      const { relay, port } = await startRelay({ dataPath, usersFile });
      const c = await TestClient.open(port, restCreds());
      await c.allocateRelayed();
      const c2 = await TestClient.open(port, restCreds(), 'tcp');
      await c2.allocateRelayed();
      c.close();
      c2.close();
      await relay.stop();
      await sleep(50);
      const after = count(types());
      for (const k of ['UDPWRAP', 'TCPSERVERWRAP', 'TCPWRAP', 'Timeout', 'StatWatcher']) expect(after[k] ?? 0, k).toBe(baseline[k] ?? 0);
      expect(fdCount()).toBe(baseFds);
    });
  });

  describe('quotas and flood limits', () => {
    it('per-user quota → 486, total quota → 508, exhausted port range → 508', async () => {
      const { relay, port } = await startRelay({ dataPath, userQuota: 2, totalQuota: 3 });
      cleanup.push(() => relay.stop());
      const clients = await Promise.all([0, 1, 2, 3].map(() => TestClient.open(port, restCreds('alice'))));
      cleanup.push(() => clients.forEach((c) => c.close()));
      await clients[0]!.allocateRelayed();
      await clients[1]!.allocateRelayed();
      const third = await clients[2]!.allocate();
      expect(third.getErrorCode()?.code).toBe(486);
      const bob = await TestClient.open(port, restCreds('bob'));
      const carol = await TestClient.open(port, restCreds('carol'));
      cleanup.push(() => (bob.close(), carol.close()));
      await bob.allocateRelayed();
      expect((await carol.allocate()).getErrorCode()?.code).toBe(508);
      // Freed quota is reusable.
      await clients[0]!.refresh(0);
      await carol.allocateRelayed();

      const tinyPort = 20000 + Math.floor(Math.random() * 19000);
      const { relay: tiny, port: tinyListen } = await startRelay({ dataPath, minPort: tinyPort, maxPort: tinyPort + 1 });
      cleanup.push(() => tiny.stop());
      const t = await Promise.all([0, 1, 2].map((i) => TestClient.open(tinyListen, restCreds(`u${i}`))));
      cleanup.push(() => t.forEach((c) => c.close()));
      await t[0]!.allocateRelayed();
      await t[1]!.allocateRelayed();
      expect((await t[2]!.allocate()).getErrorCode()?.code).toBe(508);
    });

    it('unauthenticated requests beyond the per-source budget are dropped and counted, without per-request state', async () => {
      const { relay, port } = await startRelay({ dataPath, unauthBurst: 20, unauthPerSecond: 1 });
      cleanup.push(() => relay.stop());
      const s = createSocket('udp4');
      cleanup.push(() => s.close());
      let answers = 0;
      s.on('message', () => answers++);
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      for (let i = 0; i < 300; i++) {
        const m = i % 2 === 0 ? encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request }) : encodeMessage({ method: StunMethod.Allocate, cls: StunClass.Request, transactionId: newTransactionId(), attributes: [Attr.requestedTransport()] });
        s.send(m, port, '127.0.0.1');
      }
      await sleep(300);
      expect(answers).toBeGreaterThanOrEqual(20);
      expect(answers).toBeLessThan(30);
      expect(relay.stats().dropped.rate_limited).toBeGreaterThanOrEqual(270);
      // Another source is unaffected.
      const c = await TestClient.open(port, restCreds());
      cleanup.push(() => c.close());
      expect((await c.transact(StunMethod.Binding, [])).cls).toBe(StunClass.SuccessResponse);
    });

    it('invalid options are refused with a clear error', async () => {
      expect(() => createTurnServer({ realm: '' })).toThrow(/realm/);
      expect(() => createTurnServer({ realm: 'r', defaultLifetime: 600, maxLifetime: 60 })).toThrow(/maxLifetime/);
      expect(() => createTurnServer({ realm: 'r', allowedPeers: ['not-a-cidr'] })).toThrow(/CIDR/);
      expect(() => createTurnServer({ realm: 'r', dataPath: 'fast' as never })).toThrow(/dataPath/);
      expect(() => createTurnServer({ realm: 'r', maxBps: -1 })).toThrow(/maxBps/);
      const port = await freeUdpTcpPort();
      const r = randomRelayRange(10);
      const a = createTurnServer({ realm: 'r', listen: '127.0.0.1', port, minPort: r.min, maxPort: r.max, dataPath });
      await a.start();
      const b = createTurnServer({ realm: 'r', listen: '127.0.0.1', port, minPort: r.min, maxPort: r.max, dataPath });
      await expect(b.start()).rejects.toThrow(/EADDRINUSE/);
      await a.stop();
      await b.stop();
    });
  });
});
