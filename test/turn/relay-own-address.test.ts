/**
 * Relay-to-relay through the same relay (both callers behind symmetric NATs, or `?relay=1`): each
 * client's peer is the OTHER client's relayed transport address on this relay. The relay runs on
 * 127.0.0.1 WITHOUT loopback in allowedPeers: its own addresses pass by the own-address rule
 * (permission by IP; data only to relay ports), while its other ports (listening port, anything
 * outside the relay range) stay unreachable. Also the 1:1 NAT case (external IP that the host does
 * not have): delivered to the local relay address, with the source mapped back to the external IP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TurnServer } from '../../turn/index.js';
import { StunClass } from '../../turn/stun/index.js';
import type { TransportAddress } from '../../turn/stun/index.js';
import { TestClient, TestPeer, eachDataPath, restCreds, sleep, startRelay } from './helpers.js';

eachDataPath((dataPath) => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function twoClients(extra: Parameters<typeof startRelay>[0] = {}) {
    const r = await startRelay({ dataPath, allowedPeers: [], ...extra });
    cleanup.push(async () => {
      expect(r.relay.stats().internalErrors).toBe(0);
      await r.relay.stop();
    });
    const a = await TestClient.open(r.port, restCreds('alice'));
    const b = await TestClient.open(r.port, restCreds('bob'));
    cleanup.push(() => a.close(), () => b.close());
    const relayedA = await a.allocateRelayed();
    const relayedB = await b.allocateRelayed();
    return { ...r, a, b, relayedA, relayedB };
  }

  /** Both ways over Send/Data indications, then over channels. */
  async function exchange(a: TestClient, b: TestClient, relayedA: TransportAddress, relayedB: TransportAddress): Promise<void> {
    expect((await a.createPermission(relayedB)).cls).toBe(StunClass.SuccessResponse);
    expect((await b.createPermission(relayedA)).cls).toBe(StunClass.SuccessResponse);
    a.sendIndication(relayedB, Buffer.from('a->b via send'));
    expect(await b.nextReceived()).toEqual({ kind: 'data', peer: relayedA, data: Buffer.from('a->b via send') });
    b.sendIndication(relayedA, Buffer.from('b->a via send'));
    expect(await a.nextReceived()).toEqual({ kind: 'data', peer: relayedB, data: Buffer.from('b->a via send') });

    expect((await a.channelBind(0x4001, relayedB)).cls).toBe(StunClass.SuccessResponse);
    expect((await b.channelBind(0x4002, relayedA)).cls).toBe(StunClass.SuccessResponse);
    for (let i = 0; i < 20; i++) {
      a.sendChannelData(0x4001, Buffer.from(`a->b ${i}`));
      expect(await b.nextReceived()).toEqual({ kind: 'channel', channel: 0x4002, data: Buffer.from(`a->b ${i}`) });
      b.sendChannelData(0x4002, Buffer.from(`b->a ${i}`));
      expect(await a.nextReceived()).toEqual({ kind: 'channel', channel: 0x4001, data: Buffer.from(`b->a ${i}`) });
    }
  }

  /** A UDP peer on 127.0.0.1 whose port is outside the relay range. */
  async function peerOutside(range: { min: number; max: number }): Promise<TestPeer> {
    for (;;) {
      const p = await TestPeer.open('127.0.0.1');
      cleanup.push(() => p.close());
      if (p.address.port < range.min || p.address.port > range.max) return p;
    }
  }

  function dropped(relay: TurnServer, reason: string): number {
    return relay.stats().dropped[reason] ?? 0;
  }

  describe('relay-to-relay on the same relay (loopback NOT in allowedPeers)', () => {
    it('data flows both ways over Send/Data indications and channels', async () => {
      const { relay, a, b, relayedA, relayedB } = await twoClients();
      expect(relayedA.address).toBe('127.0.0.1');
      await exchange(a, b, relayedA, relayedB);
      const s = relay.stats();
      expect(s.relayed.clientToPeer.viaChannel).toBe(40);
      expect(s.relayed.peerToClient.viaChannel).toBe(40);
      expect(dropped(relay, 'own_address_port')).toBe(0);
    });

    it('other loopback addresses stay refused; own ports outside the relay range are unreachable', async () => {
      const { relay, port, range, a, relayedA } = await twoClients();
      // Loopback that is not ours: 403, as before.
      expect((await a.createPermission({ family: 4, address: '127.0.0.2', port: range.min })).getErrorCode()?.code).toBe(403);
      // ChannelBind to our own listening port, or to a port outside the relay range: 403.
      const listening = await a.channelBind(0x4005, { family: 4, address: '127.0.0.1', port });
      expect(listening.getErrorCode()?.code).toBe(403);
      expect(listening.verifyIntegrity(a.key!)).toBe('sha1');
      const service = await peerOutside(range);
      expect((await a.channelBind(0x4006, service.address)).getErrorCode()?.code).toBe(403);
      expect(dropped(relay, 'peer_refused_own_address_port')).toBe(2);
      // A permission for our own IP is fine (by IP), but Send to a non-relay port is dropped and counted.
      expect((await a.createPermission(service.address)).cls).toBe(StunClass.SuccessResponse);
      const before = dropped(relay, 'own_address_port');
      a.sendIndication(service.address, Buffer.from('to a local service'));
      a.sendIndication({ family: 4, address: '127.0.0.1', port }, Buffer.from('to the TURN port'));
      expect(await service.quietFor(300)).toBe(0);
      // And a local non-relay port cannot feed data into the allocation either.
      service.send(relayedA, Buffer.from('from a local service'));
      await sleep(200);
      expect(a.received).toHaveLength(0);
      expect(dropped(relay, 'own_address_port')).toBe(before + 3);
    });
  });

  describe('relay-to-relay with an external IP (1:1 NAT without hairpin)', () => {
    it('delivers to the local relay address and shows the external IP as the source', async () => {
      // 127.0.0.2 plays the public IP: the relay sockets are bound to 127.0.0.1 only, so a datagram
      // really sent to 127.0.0.2:<relay port> would reach nothing (like a NAT that does not hairpin).
      const { relay, a, b, relayedA, relayedB } = await twoClients({ externalIp: '127.0.0.2' });
      expect(relayedA.address).toBe('127.0.0.2');
      expect(relayedB.address).toBe('127.0.0.2');
      await exchange(a, b, relayedA, relayedB);
      expect(relay.stats().relayed.peerToClient.packets).toBe(42);
      expect(relay.stats().dropped.peer_not_permitted ?? 0).toBe(0);
    });
  });
});
