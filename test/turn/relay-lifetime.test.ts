/** Lifetimes over real UDP: refresh, Refresh 0, expiry of allocations, permissions and channels (shortened lifetimes). */
import { afterEach, describe, expect, it } from 'vitest';
import { AttributeType, StunClass } from '../../turn/stun/index.js';
import { TestClient, TestPeer, eachDataPath, restCreds, sleep, startRelay } from './helpers.js';

eachDataPath((dataPath) => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setup(extra: Parameters<typeof startRelay>[0] = {}) {
    const r = await startRelay({ dataPath, ...extra });
    cleanup.push(() => r.relay.stop());
    const c = await TestClient.open(r.port, restCreds());
    cleanup.push(() => c.close());
    const p = await TestPeer.open();
    cleanup.push(() => p.close());
    return { ...r, c, p };
  }

  describe('allocation lifetime', () => {
    it('LIFETIME is clamped to [default, max]', async () => {
      const { c } = await setup({ defaultLifetime: 2, maxLifetime: 5 });
      expect((await c.allocate({ lifetime: 1 })).getUint32(AttributeType.LIFETIME)).toBe(2);
      expect((await c.refresh(100)).getUint32(AttributeType.LIFETIME)).toBe(5);
      expect((await c.refresh(3)).getUint32(AttributeType.LIFETIME)).toBe(3);
      expect((await c.refresh()).getUint32(AttributeType.LIFETIME)).toBe(2);
    });

    it('refresh keeps an allocation alive past its original lifetime; without refresh it expires and stops relaying', async () => {
      const { relay, c, p } = await setup({ defaultLifetime: 1, maxLifetime: 10 });
      const relayed = await c.allocateRelayed();
      await c.channelBind(0x4000, p.address);
      for (let i = 0; i < 4; i++) {
        await sleep(500);
        expect((await c.refresh(1)).cls).toBe(StunClass.SuccessResponse);
      }
      // 2 s passed: twice the original lifetime; still relaying.
      c.sendChannelData(0x4000, Buffer.from('alive'));
      expect((await p.next()).data.toString()).toBe('alive');
      p.send(relayed, Buffer.from('back'));
      expect((await c.nextReceived()).kind).toBe('channel');
      // Stop refreshing: expires within lifetime + sweep.
      await sleep(1400);
      expect(relay.listAllocations()).toHaveLength(0);
      c.sendChannelData(0x4000, Buffer.from('dead'));
      p.send(relayed, Buffer.from('dead'));
      expect(await p.quietFor(200)).toBe(0);
      expect(c.received).toHaveLength(0);
      expect(relay.stats().allocations.expired).toBe(1);
      expect((await c.refresh()).getErrorCode()?.code).toBe(437);
    });

    it('Refresh 0 frees the relay port for the next allocation', async () => {
      const port = 20000 + Math.floor(Math.random() * 19000);
      const { relay, c } = await setup({ minPort: port, maxPort: port });
      const first = await c.allocateRelayed();
      expect(first.port).toBe(port);
      const other = await TestClient.open((relay.addresses().udp[0]!).port, restCreds('bob'));
      cleanup.push(() => other.close());
      expect((await other.allocate()).getErrorCode()?.code).toBe(508);
      const del = await c.refresh(0);
      expect(del.cls).toBe(StunClass.SuccessResponse);
      expect(del.getUint32(AttributeType.LIFETIME)).toBe(0);
      expect(relay.listAllocations()).toHaveLength(0);
      expect(relay.stats().relayPortsInUse).toBe(0);
      expect((await other.allocateRelayed()).port).toBe(port);
      expect(relay.stats().allocations.deleted).toBe(1);
    });

    it('permissions and channel bindings expire', async () => {
      const { c, p } = await setup({ permissionLifetime: 1, channelLifetime: 1 });
      const relayed = await c.allocateRelayed();
      await c.channelBind(0x4000, p.address);
      c.sendChannelData(0x4000, Buffer.from('x'));
      await p.next();
      await sleep(1300);
      c.sendChannelData(0x4000, Buffer.from('late'));
      p.send(relayed, Buffer.from('late'));
      expect(await p.quietFor(200)).toBe(0);
      expect(c.received).toHaveLength(0);
      // A new CreatePermission revives Send/Data but not the channel.
      await c.createPermission(p.address);
      p.send(relayed, Buffer.from('again'));
      expect((await c.nextReceived()).kind).toBe('data');
    });
  });

  describe('channel number hold after expiry (RFC 8656 §12)', () => {
    it('an expired channel number and its peer stay reserved: only the same pair may be bound again', async () => {
      const { relay, c, p } = await setup({ channelLifetime: 1 });
      await c.allocateRelayed();
      const other = await TestPeer.open();
      cleanup.push(() => other.close());
      expect((await c.channelBind(0x4001, p.address)).cls).toBe(StunClass.SuccessResponse);
      await sleep(1300);
      expect(relay.stats().channels).toBe(0); // expired
      // Number → other peer, and peer → other number: refused for 5 minutes.
      expect((await c.channelBind(0x4001, other.address)).getErrorCode()?.code).toBe(400);
      expect((await c.channelBind(0x4002, p.address)).getErrorCode()?.code).toBe(400);
      // Unrelated number and peer: fine. The same pair again: fine, and it relays.
      expect((await c.channelBind(0x4003, other.address)).cls).toBe(StunClass.SuccessResponse);
      expect((await c.channelBind(0x4001, p.address)).cls).toBe(StunClass.SuccessResponse);
      c.sendChannelData(0x4001, Buffer.from('rebound'));
      expect((await p.next()).data.toString()).toBe('rebound');
    });
  });
});
