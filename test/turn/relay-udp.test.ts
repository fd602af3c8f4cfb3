/** Integration over real UDP sockets, on both data paths: the relay in-process on 127.0.0.1, a test client and UDP peers. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TurnServer } from '../../turn/index.js';
import { Attr, AttributeType, StunClass, StunMethod, encodeMessage, newTransactionId } from '../../turn/stun/index.js';
import { REALM, TestClient, TestPeer, eachDataPath, restCreds, sleep, startRelay } from './helpers.js';

eachDataPath((dataPath) => {
  let relay: TurnServer;
  let port: number;
  const open: Array<{ close(): void }> = [];

  async function client(creds = restCreds()): Promise<TestClient> {
    const c = await TestClient.open(port, creds);
    open.push(c);
    return c;
  }
  async function peer(): Promise<TestPeer> {
    const p = await TestPeer.open();
    open.push(p);
    return p;
  }

  beforeAll(async () => {
    ({ relay, port } = await startRelay({ dataPath }));
  });
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });
  afterAll(async () => {
    // Nothing in this file may have reached the catch-all handler.
    expect(relay.stats().internalErrors).toBe(0);
    await relay.stop();
  });

  describe('Binding', () => {
    it('answers with XOR-MAPPED-ADDRESS and FINGERPRINT, no auth', async () => {
      const c = await client();
      const res = await c.transact(StunMethod.Binding, []);
      expect(res.cls).toBe(StunClass.SuccessResponse);
      expect(res.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS)).toEqual(c.local);
      expect(res.attributes.at(-1)?.type).toBe(AttributeType.FINGERPRINT);
    });
  });

  describe('relaying over UDP', () => {
    it('allocate → permission → channel → data both ways; responses signed', async () => {
      const c = await client();
      const p = await peer();
      const alloc = await c.allocate();
      expect(alloc.cls).toBe(StunClass.SuccessResponse);
      const relayed = c.relayed!;
      expect(relayed.address).toBe('127.0.0.1');
      // Every response to an authenticated request carries MESSAGE-INTEGRITY that verifies, and FINGERPRINT.
      expect(alloc.verifyIntegrity(c.key!)).toBe('sha1');
      expect(alloc.getUint32(AttributeType.LIFETIME)).toBe(600);
      expect(alloc.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS)).toEqual(c.local);

      const perm = await c.createPermission(p.address);
      expect(perm.cls).toBe(StunClass.SuccessResponse);
      expect(perm.verifyIntegrity(c.key!)).toBe('sha1');

      const cb = await c.channelBind(0x4001, p.address);
      expect(cb.cls).toBe(StunClass.SuccessResponse);
      expect(cb.verifyIntegrity(c.key!)).toBe('sha1');
      expect(cb.attributes.at(-1)?.type).toBe(AttributeType.FINGERPRINT);

      c.sendChannelData(0x4001, Buffer.from('hello peer'));
      const got = await p.next();
      expect(got.data.toString()).toBe('hello peer');
      expect(got.from).toEqual(relayed);

      p.send(relayed, Buffer.from('hello client'));
      const back = await c.nextReceived();
      expect(back).toEqual({ kind: 'channel', channel: 0x4001, data: Buffer.from('hello client') });

      // Same channel + same peer = refresh; the other way round is refused.
      expect((await c.channelBind(0x4001, p.address)).cls).toBe(StunClass.SuccessResponse);
      const other = await peer();
      expect((await c.channelBind(0x4001, other.address)).getErrorCode()?.code).toBe(400);
      expect((await c.channelBind(0x4002, p.address)).getErrorCode()?.code).toBe(400);
      expect((await c.channelBind(0x3fff, other.address)).getErrorCode()?.code).toBe(400);
      // Default channel range 0x4000–0x7FFF (coturn's): 0x5000 is fine, 0x8000 is not a channel number.
      expect((await c.channelBind(0x5000, other.address)).cls).toBe(StunClass.SuccessResponse);
      const bad = await c.channelBind(0x8000, other.address);
      expect(bad.getErrorCode()?.code).toBe(400);
      expect(bad.verifyIntegrity(c.key!)).toBe('sha1');
    });

    it("channelRange 'rfc8656' (TURN_CHANNEL_RANGE=rfc8656) keeps RFC 8656's 0x4000–0x4FFF", async () => {
      const strict = await startRelay({ dataPath, channelRange: 'rfc8656' });
      try {
        const c = await TestClient.open(strict.port, restCreds());
        open.push(c);
        const p = await peer();
        expect((await c.allocate()).cls).toBe(StunClass.SuccessResponse);
        expect((await c.channelBind(0x4fff, p.address)).cls).toBe(StunClass.SuccessResponse);
        expect((await c.channelBind(0x5000, p.address)).getErrorCode()?.code).toBe(400);
      } finally {
        await strict.relay.stop();
      }
    });

    it('Send and Data indications, and a non-permitted peer gets nothing through', async () => {
      const c = await client();
      const p = await peer();
      const stranger = await TestPeer.open('127.0.0.2'); // permissions are per IP: another IP
      open.push(stranger);
      const relayed = await c.allocateRelayed();
      // No permission yet: Send is dropped.
      c.sendIndication(p.address, Buffer.from('too early'));
      expect(await p.quietFor(200)).toBe(0);
      expect((await c.createPermission(p.address)).cls).toBe(StunClass.SuccessResponse);
      c.sendIndication(p.address, Buffer.from('via send'));
      expect((await p.next()).data.toString()).toBe('via send');
      p.send(relayed, Buffer.from('via data'));
      const r = await c.nextReceived();
      expect(r.kind).toBe('data');
      if (r.kind === 'data') {
        expect(r.peer).toEqual(p.address);
        expect(r.data.toString()).toBe('via data');
      }
      const before = relay.stats().dropped.peer_not_permitted ?? 0;
      stranger.send(relayed, Buffer.from('intruder'));
      c.sendIndication(stranger.address, Buffer.from('nope'));
      await sleep(200);
      expect(c.received.length).toBe(0);
      expect(stranger.received.length).toBe(0);
      expect(relay.stats().dropped.peer_not_permitted).toBeGreaterThanOrEqual(before + 2);
    });

    it('retransmitted Allocate gets the same response; another transaction on the five-tuple gets 437', async () => {
      const c = await client();
      await c.request(StunMethod.Binding, []); // no-op to learn nothing; then fetch a nonce
      const first = await c.allocate();
      expect(first.cls).toBe(StunClass.SuccessResponse);
      // Replay the exact same request bytes (same transaction id).
      const tid = newTransactionId();
      const c2 = await client();
      await c2.allocate().catch(() => undefined);
      const again = await c2.transact(StunMethod.Allocate, [Attr.requestedTransport()], { transactionId: tid });
      expect(again.getErrorCode()?.code).toBe(437);
      const resend = await c.transact(StunMethod.Allocate, [Attr.requestedTransport()], { transactionId: Buffer.from(first.transactionId) });
      expect(resend.cls).toBe(StunClass.SuccessResponse);
      expect(resend.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS)).toEqual(first.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS));
      expect(relay.listAllocations().filter((a) => a.client === `127.0.0.1:${c.local!.port}`)).toHaveLength(1);
    });

    it('401 without credentials (REALM + NONCE), 401 for a wrong password, 438 for a stale nonce', async () => {
      const c = await client();
      const res = await c.transact(StunMethod.Allocate, [Attr.requestedTransport()]);
      expect(res.getErrorCode()?.code).toBe(401);
      expect(res.getString(AttributeType.REALM)).toBe(REALM);
      expect(res.getString(AttributeType.NONCE)).toMatch(/^[0-9a-f]+-/);
      expect(res.has(AttributeType.MESSAGE_INTEGRITY)).toBe(false);

      const failuresBefore = relay.stats().auth.failures.bad_integrity ?? 0;
      const wrong = await client({ username: restCreds().username, password: 'wrong' });
      const w = await wrong.allocate();
      expect(w.getErrorCode()?.code).toBe(401);
      expect(relay.stats().auth.failures.bad_integrity).toBe(failuresBefore + 1);

      const stale = await client();
      stale.nonce = `${(Date.now() - 3_600_000).toString(16)}-AAAAAAAAAAAAAAAAAAAAAA`;
      stale.realm = REALM;
      const { longTermKey } = await import('../../turn/stun/index.js');
      stale.key = longTermKey(stale.credentials!.username, REALM, stale.credentials!.password);
      const s = await stale.transact(StunMethod.Allocate, [Attr.requestedTransport()]);
      expect(s.getErrorCode()?.code).toBe(438);
      expect(s.has(AttributeType.NONCE)).toBe(true);
      expect(s.getString(AttributeType.REALM)).toBe(REALM);
      // The client recovers with the new nonce.
      expect((await stale.allocate()).cls).toBe(StunClass.SuccessResponse);
    });

    it('expired REST credentials and usernames constructor/__proto__/toString get 401', async () => {
      const expired = await client(restCreds('bob', -10));
      expect((await expired.allocate()).getErrorCode()?.code).toBe(401);
      for (const username of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
        const c = await client({ username, password: 'x' });
        const res = await c.allocate();
        expect(res.getErrorCode()?.code, username).toBe(401);
      }
    });

    it('437 for requests without an allocation, 441 for another username on the allocation', async () => {
      const c = await client();
      const p = await peer();
      expect((await c.refresh()).getErrorCode()?.code).toBe(437);
      expect((await c.createPermission(p.address)).getErrorCode()?.code).toBe(437);
      await c.allocateRelayed();
      // Same five-tuple, other (valid) user.
      c.credentials = restCreds('mallory');
      const { longTermKey } = await import('../../turn/stun/index.js');
      c.key = longTermKey(c.credentials.username, REALM, c.credentials.password);
      const res = await c.refresh();
      expect(res.getErrorCode()?.code).toBe(441);
      expect(res.verifyIntegrity(c.key)).toBe('sha1');
    });

    it('442 for TCP relaying, 400 without REQUESTED-TRANSPORT, 420 for unknown comprehension-required attributes', async () => {
      const c = await client();
      const tcp = await c.request(StunMethod.Allocate, [Attr.requestedTransport(6)]);
      expect(tcp.getErrorCode()?.code).toBe(442);
      expect(tcp.verifyIntegrity(c.key!)).toBe('sha1');
      expect((await c.request(StunMethod.Allocate, [])).getErrorCode()?.code).toBe(400);
      const unknown = await c.request(StunMethod.Allocate, [Attr.requestedTransport(), Attr.raw(0x0042, Buffer.from([1, 2, 3, 4])), Attr.raw(0x7abc, Buffer.alloc(0))]);
      expect(unknown.getErrorCode()?.code).toBe(420);
      const ua = unknown.get(AttributeType.UNKNOWN_ATTRIBUTES)!;
      expect([ua.readUInt16BE(0), ua.readUInt16BE(2)]).toEqual([0x0042, 0x7abc]);
      // Malformed known attributes: 400, still signed.
      for (const bad of [Attr.raw(AttributeType.LIFETIME, Buffer.alloc(2)), Attr.raw(AttributeType.EVEN_PORT, Buffer.alloc(0))]) {
        const res = await c.request(StunMethod.Allocate, [Attr.requestedTransport(), bad]);
        expect(res.getErrorCode()?.code).toBe(400);
        expect(res.verifyIntegrity(c.key!)).toBe('sha1');
      }
      expect((await c.request(StunMethod.Allocate, [Attr.raw(AttributeType.REQUESTED_TRANSPORT, Buffer.alloc(1))])).getErrorCode()?.code).toBe(400);
      // Unknown comprehension-optional attributes are ignored.
      const ok = await c.request(StunMethod.Allocate, [Attr.requestedTransport(), Attr.raw(0x8abc, Buffer.from('x')), Attr.dontFragment()]);
      expect(ok.cls).toBe(StunClass.SuccessResponse);
      // Binding with an unknown required attribute.
      const b = await c.transact(StunMethod.Binding, [Attr.raw(0x0033, Buffer.alloc(4))]);
      expect(b.getErrorCode()?.code).toBe(420);
    });

    it('403 for refused peers (policy) on CreatePermission and ChannelBind', async () => {
      const { relay: strict, port: strictPort } = await startRelay({ dataPath, allowedPeers: [] });
      try {
        const c = await TestClient.open(strictPort, restCreds());
        open.push(c);
        await c.allocateRelayed();
        // 127.0.0.2 is loopback but not one of the relay's addresses (it listens on 127.0.0.1, see relay-own-address.test.ts).
        for (const address of ['127.0.0.2', '10.1.2.3', '192.168.1.1', '169.254.169.254', '100.64.0.1', '224.0.0.1', '0.0.0.0']) {
          const res = await c.createPermission({ family: 4, address, port: 1234 });
          expect(res.getErrorCode()?.code, address).toBe(403);
          expect(res.verifyIntegrity(c.key!)).toBe('sha1');
        }
        expect((await c.channelBind(0x4000, { family: 4, address: '172.16.0.9', port: 9 })).getErrorCode()?.code).toBe(403);
        expect((await c.createPermission({ family: 4, address: '198.51.100.7', port: 9 })).cls).toBe(StunClass.SuccessResponse);
        // All-or-nothing: one refused peer fails the whole request.
        expect((await c.createPermission({ family: 4, address: '198.51.100.8', port: 9 }, { family: 4, address: '10.0.0.1', port: 9 })).getErrorCode()?.code).toBe(403);
      } finally {
        await strict.stop();
      }
    });

    it('Send indications: known comprehension-required attributes pass, an unknown one drops it (unknown_attribute)', async () => {
      const c = await client();
      const p = await peer();
      await c.allocateRelayed();
      await c.createPermission(p.address);
      const send = (extra: ReturnType<typeof Attr.raw>[], text: string) => {
        const tid = newTransactionId();
        c.sendRaw(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: tid, attributes: [...extra, Attr.xorPeerAddress(p.address, tid), Attr.data(Buffer.from(text))] }));
      };
      const before = relay.stats().dropped.unknown_attribute ?? 0;
      send([Attr.dontFragment(), Attr.raw(0x8abc, Buffer.from('optional'))], 'known');
      expect((await p.next()).data.toString()).toBe('known');
      send([Attr.raw(0x0042, Buffer.alloc(4))], 'unknown');
      expect(await p.quietFor(200)).toBe(0);
      expect(relay.stats().dropped.unknown_attribute).toBe(before + 1);
    });

    it('EVEN-PORT with R reserves the next port for a RESERVATION-TOKEN; the reserved allocation relays; an unknown token gets 508', async () => {
      const a = await client();
      const res = await a.allocate({ attributes: [Attr.evenPort(true)] });
      expect(res.cls).toBe(StunClass.SuccessResponse);
      const even = a.relayed!;
      expect(even.port % 2).toBe(0);
      const token = res.get(AttributeType.RESERVATION_TOKEN);
      expect(token).toHaveLength(8);
      const b = await client(restCreds('bob'));
      const reserved = await b.allocateRelayed({ attributes: [Attr.raw(AttributeType.RESERVATION_TOKEN, token!)] });
      expect(reserved.port).toBe(even.port + 1);
      const p = await peer();
      await b.channelBind(0x4001, p.address);
      b.sendChannelData(0x4001, Buffer.from('on the reserved port'));
      const got = await p.next();
      expect(got.data.toString()).toBe('on the reserved port');
      expect(got.from).toEqual(reserved);
      p.send(reserved, Buffer.from('back'));
      expect(await b.nextReceived()).toEqual({ kind: 'channel', channel: 0x4001, data: Buffer.from('back') });
      const c = await client(restCreds('carol'));
      expect((await c.allocate({ attributes: [Attr.raw(AttributeType.RESERVATION_TOKEN, token!)] })).getErrorCode()?.code).toBe(508);
    });

    it('peer port 0: ChannelBind gets 400, a Send indication is dropped and counted (no internal error)', async () => {
      const c = await client();
      await c.allocateRelayed();
      const zero = { family: 4 as const, address: '127.0.0.1', port: 0 };
      expect((await c.createPermission(zero)).cls).toBe(StunClass.SuccessResponse); // by IP: the port is ignored
      expect((await c.channelBind(0x4009, zero)).getErrorCode()?.code).toBe(400);
      const before = relay.stats().dropped.bad_attribute ?? 0;
      c.sendIndication(zero, Buffer.from('to port 0'));
      await sleep(150);
      expect(relay.stats().dropped.bad_attribute).toBe(before + 1);
      expect(relay.stats().internalErrors).toBe(0);
    });

    it('a request with MESSAGE-INTEGRITY but no NONCE gets 400', async () => {
      const c = await client();
      await c.allocate(); // learns nonce and key
      const { longTermKey } = await import('../../turn/stun/index.js');
      const { username, password } = c.credentials!;
      const buf = encodeMessage(
        { method: StunMethod.Refresh, cls: StunClass.Request, attributes: [Attr.username(username), Attr.realm(REALM)] },
        { integrityKey: longTermKey(username, REALM, password), fingerprint: true },
      );
      expect((await c.transactRaw(buf)).getErrorCode()?.code).toBe(400);
    });
  });
});
