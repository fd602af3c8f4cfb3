/**
 * TURN REST credentials that expire during a call: the allocation created with them keeps working
 * (Refresh, CreatePermission, ChannelBind with the same username are accepted after the timestamp
 * has passed, as coturn does), while a new Allocate with them gets 401, and another username on
 * the same five-tuple is still refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StunClass } from '../../turn/stun/index.js';
import { SECRET, TestClient, TestPeer, eachDataPath, restCreds, sleep, startRelay } from './helpers.js';
import { restPassword } from '../../turn/index.js';

eachDataPath((dataPath) => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  describe('REST credentials past their timestamp', () => {
    it('an existing allocation keeps refreshing, permitting and binding; a new Allocate gets 401', async () => {
      const { relay, port } = await startRelay({ dataPath });
      cleanup.push(() => relay.stop());
      const creds = restCreds('r1234-seat', 1); // expires within 1–2 s
      const c = await TestClient.open(port, creds);
      cleanup.push(() => c.close());
      const p = await TestPeer.open();
      cleanup.push(() => p.close());
      const q = await TestPeer.open();
      cleanup.push(() => q.close());

      await c.allocateRelayed();
      expect((await c.channelBind(0x4000, p.address)).cls).toBe(StunClass.SuccessResponse);
      await sleep(2600);
      expect(Number(creds.username.split(':')[0])).toBeLessThan(Math.floor(Date.now() / 1000));

      // The same five-tuple, the same (now expired) username: accepted.
      expect((await c.refresh(600)).cls).toBe(StunClass.SuccessResponse);
      expect((await c.createPermission(q.address)).cls).toBe(StunClass.SuccessResponse);
      expect((await c.channelBind(0x4000, p.address)).cls).toBe(StunClass.SuccessResponse); // refresh of the binding
      expect((await c.channelBind(0x4001, q.address)).cls).toBe(StunClass.SuccessResponse); // a new binding
      c.sendChannelData(0x4000, Buffer.from('still relayed'));
      expect((await p.next()).data.toString()).toBe('still relayed');

      // A new allocation with the expired credentials: 401.
      const late = await TestClient.open(port, creds);
      cleanup.push(() => late.close());
      const res = await late.allocate();
      expect(res.getErrorCode()?.code).toBe(401);
      expect(relay.stats().auth.failures.expired_credentials ?? 0).toBeGreaterThan(0);

      // A forged password for the expired username: 401.
      const forged = await TestClient.open(port, { username: creds.username, password: restPassword('not-the-secret', creds.username) });
      cleanup.push(() => forged.close());
      expect((await forged.allocate()).getErrorCode()?.code).toBe(401);
      expect(restPassword(SECRET, creds.username)).toBe(creds.password);

      // Deleting the allocation still works with the expired username.
      expect((await c.refresh(0)).cls).toBe(StunClass.SuccessResponse);
    });
  });
});
