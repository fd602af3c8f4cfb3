/** IPv6 relaying on ::1, REQUESTED-ADDRESS-FAMILY, and the admin hooks (listAllocations / endAllocation). */
import { afterEach, describe, expect, it } from 'vitest';
import { Attr, AttributeType, StunClass } from '../../turn/stun/index.js';
import { TestClient, TestPeer, eachDataPath, restCreds, startRelay } from './helpers.js';

eachDataPath((dataPath) => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  describe('IPv6', () => {
    it('allocates an IPv6 relayed address on ::1 and relays both ways; asking for IPv4 gets 440', async () => {
      const { relay, port } = await startRelay({ dataPath, listen: '::1', allowedPeers: ['::1/128'] });
      cleanup.push(() => relay.stop());
      expect(relay.addresses().udp).toEqual([{ family: 6, address: '::1', port }]);
      const c = await TestClient.open(port, restCreds(), 'udp', '::1');
      cleanup.push(() => c.close());
      const p = await TestPeer.open('::1');
      cleanup.push(() => p.close());
      const v4 = await c.allocate({ attributes: [Attr.requestedAddressFamily(4)] });
      expect(v4.getErrorCode()?.code).toBe(440);
      const res = await c.allocate();
      const relayed = res.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS)!;
      expect(relayed.family).toBe(6);
      expect(relayed.address).toBe('::1');
      expect(res.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS)).toEqual(c.local);
      // An IPv4 peer on an IPv6 allocation: 443.
      expect((await c.createPermission({ family: 4, address: '198.51.100.1', port: 9 })).getErrorCode()?.code).toBe(443);
      expect((await c.channelBind(0x4010, p.address)).cls).toBe(StunClass.SuccessResponse);
      c.sendChannelData(0x4010, Buffer.from('six'));
      const got = await p.next();
      expect(got.data.toString()).toBe('six');
      expect(got.from).toEqual(relayed);
      p.send(relayed, Buffer.from('back6'));
      expect(await c.nextReceived()).toEqual({ kind: 'channel', channel: 0x4010, data: Buffer.from('back6') });
    });
  });

  describe('wildcard listen address', () => {
    it('0.0.0.0 binds one UDP socket per local IPv4 address; the relayed address is the one the request arrived on', async () => {
      const { relay, port } = await startRelay({ dataPath, listen: '0.0.0.0' });
      cleanup.push(() => relay.stop());
      const udp = relay.addresses().udp;
      expect(udp.map((u) => u.address)).toContain('127.0.0.1');
      expect(udp.every((u) => u.port === port && u.address !== '0.0.0.0')).toBe(true);
      expect(relay.addresses().tcpPort).toBe(port);
      const c = await TestClient.open(port, restCreds());
      cleanup.push(() => c.close());
      expect((await c.allocateRelayed()).address).toBe('127.0.0.1');
      // Over TCP on the wildcard listener too.
      const t = await TestClient.open(port, restCreds(), 'tcp');
      cleanup.push(() => t.close());
      expect((await t.allocateRelayed()).address).toBe('127.0.0.1');
    });
  });

  describe('admin hooks', () => {
    it('listAllocations shows the allocation; endAllocation closes it at once', async () => {
      const { relay, port } = await startRelay({ dataPath });
      cleanup.push(() => relay.stop());
      const c = await TestClient.open(port, restCreds('dave'));
      cleanup.push(() => c.close());
      const p = await TestPeer.open();
      cleanup.push(() => p.close());
      const relayed = await c.allocateRelayed();
      await c.channelBind(0x4321, p.address);
      const [info] = relay.listAllocations();
      expect(info).toMatchObject({ transport: 'udp', client: `127.0.0.1:${c.local!.port}`, relayed: `127.0.0.1:${relayed.port}`, permissions: ['127.0.0.1'], channels: [{ number: 0x4321, peer: `127.0.0.1:${p.address.port}` }] });
      expect(info!.username).toMatch(/:dave$/);
      expect(relay.endAllocation('no-such-id')).toBe(false);
      expect(relay.endAllocation(info!.id)).toBe(true);
      expect(relay.listAllocations()).toHaveLength(0);
      expect(relay.stats().relayPortsInUse).toBe(0);
      c.sendChannelData(0x4321, Buffer.from('gone'));
      expect(await p.quietFor(150)).toBe(0);
      expect((await c.refresh()).getErrorCode()?.code).toBe(437);
    });
  });
});
