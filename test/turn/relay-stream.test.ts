/** TURN over TCP and TLS (RFC 8656 §3.1): framing, relaying with padded ChannelData, connection-scoped allocations. */
import { connect } from 'node:net';
import { generate } from 'selfsigned';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TurnServer } from '../../turn/index.js';
import { Attr, StreamFramer, StunClass, StunMethod, encodeChannelData, encodeMessage, newTransactionId } from '../../turn/stun/index.js';
import { TestClient, TestPeer, eachDataPath, restCreds, sleep, startRelay } from './helpers.js';
import { freeUdpTcpPort } from '../helpers/ports.js';

eachDataPath((dataPath) => {
  let relay: TurnServer;
  let port: number;
  let tlsPort: number;
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  beforeAll(async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, days: 1 } as never);
    tlsPort = await freeUdpTcpPort();
    ({ relay, port } = await startRelay({ dataPath, tls: { cert: pems.cert, key: pems.private }, tlsPort, streamIdleTimeout: 2 }));
  });
  afterAll(async () => {
    await relay.stop();
  });

  async function setup(transport: 'tcp' | 'tls') {
    const c = await TestClient.open(transport === 'tls' ? tlsPort : port, restCreds(), transport);
    const p = await TestPeer.open();
    open.push(c, p);
    return { c, p };
  }

  describe.each(['tcp', 'tls'] as const)('TURN over %s', (transport) => {
    it('Binding, allocate, channel data both ways (padded), Send/Data indications', async () => {
      const { c, p } = await setup(transport);
      expect((await c.transact(StunMethod.Binding, [])).cls).toBe(StunClass.SuccessResponse);
      const relayed = await c.allocateRelayed();
      expect(relay.listAllocations().some((a) => a.transport === transport)).toBe(true);
      expect((await c.channelBind(0x4abc, p.address)).cls).toBe(StunClass.SuccessResponse);
      for (const text of ['a', 'odd!!', 'four', 'seven77']) {
        c.sendChannelData(0x4abc, Buffer.from(text));
        expect((await p.next()).data.toString()).toBe(text);
        p.send(relayed, Buffer.from(text.toUpperCase()));
        expect(await c.nextReceived()).toEqual({ kind: 'channel', channel: 0x4abc, data: Buffer.from(text.toUpperCase()) });
      }
      const other = await TestPeer.open('127.0.0.3');
      open.push(other);
      await c.createPermission(other.address);
      c.sendIndication(other.address, Buffer.from('send'));
      expect((await other.next()).data.toString()).toBe('send');
      other.send(relayed, Buffer.from('data!'));
      const r = await c.nextReceived();
      expect(r.kind === 'data' && r.data.toString()).toBe('data!');
    });

    it('closing the connection ends the allocation and frees its relay port', async () => {
      const { c } = await setup(transport);
      const relayed = await c.allocateRelayed();
      const before = relay.stats().allocations.closedWithConnection;
      c.close();
      for (let i = 0; i < 50 && relay.listAllocations().some((a) => a.relayed.endsWith(`:${relayed.port}`)); i++) await sleep(20);
      expect(relay.listAllocations().some((a) => a.relayed.endsWith(`:${relayed.port}`))).toBe(false);
      expect(relay.stats().allocations.closedWithConnection).toBe(before + 1);
    });
  });

  describe('stream framing', () => {
    async function rawTcp() {
      const sock = connect(port, '127.0.0.1');
      await new Promise<void>((r) => sock.once('connect', () => r()));
      const framer = new StreamFramer();
      const frames: Buffer[] = [];
      sock.on('data', (d: Buffer) => framer.push(d, (f) => frames.push(Buffer.from(f))));
      sock.on('error', () => {});
      open.push({ close: () => sock.destroy() });
      return { sock, frames };
    }
    const binding = () => encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, transactionId: newTransactionId() }, { fingerprint: true });

    it('several messages in one write are all answered', async () => {
      const { sock, frames } = await rawTcp();
      sock.write(Buffer.concat([binding(), binding(), binding(), binding(), binding()]));
      for (let i = 0; i < 50 && frames.length < 5; i++) await sleep(10);
      expect(frames).toHaveLength(5);
    });

    it('messages split at every boundary and sent one byte at a time are answered', async () => {
      const { sock, frames } = await rawTcp();
      const msgs = [binding(), binding(), binding()];
      const all = Buffer.concat(msgs);
      // Split in odd-sized chunks, then one byte at a time.
      for (let off = 0; off < all.length; off += 7) {
        sock.write(all.subarray(off, Math.min(all.length, off + 7)));
        await sleep(1);
      }
      const one = binding();
      for (const byte of one) {
        sock.write(Buffer.from([byte]));
        await sleep(2);
      }
      for (let i = 0; i < 100 && frames.length < 4; i++) await sleep(10);
      expect(frames).toHaveLength(4);
      const answered = frames.map((f) => f.subarray(8, 20).toString('hex'));
      expect(answered).toEqual([...msgs, one].map((m) => m.subarray(8, 20).toString('hex')));
    });

    it('ChannelData and STUN mixed in one write, split across writes, relay correctly', async () => {
      const { c, p } = await setup('tcp');
      await c.allocateRelayed();
      await c.channelBind(0x4001, p.address);
      const parts = [encodeChannelData(0x4001, Buffer.from('one'), true), encodeChannelData(0x4001, Buffer.from('two22'), true), binding(), encodeChannelData(0x4001, Buffer.from('three'), true)];
      const all = Buffer.concat(parts);
      c.sendRaw(all.subarray(0, 5));
      await sleep(5);
      c.sendRaw(all.subarray(5, 30));
      await sleep(5);
      c.sendRaw(all.subarray(30));
      const got = [(await p.next()).data.toString(), (await p.next()).data.toString(), (await p.next()).data.toString()];
      expect(got).toEqual(['one', 'two22', 'three']);
    });

    it('garbage closes the connection; the relay keeps serving others', async () => {
      const { sock } = await rawTcp();
      const before = relay.stats().dropped.stream_garbage ?? 0;
      const closed = new Promise<void>((r) => sock.once('close', () => r()));
      sock.write(Buffer.from([0xff, 0xee, 0xdd, 0xcc, 0x00, 0x01]));
      await closed;
      expect(relay.stats().dropped.stream_garbage).toBe(before + 1);
      // A STUN header with a bad cookie is garbage too.
      const { sock: s2 } = await rawTcp();
      const bad = binding();
      bad.writeUInt32BE(0xdeadbeef, 4);
      const closed2 = new Promise<void>((r) => s2.once('close', () => r()));
      s2.write(bad);
      await closed2;
      const { c } = await setup('tcp');
      expect((await c.transact(StunMethod.Binding, [])).cls).toBe(StunClass.SuccessResponse);
    });

    it('a connection without an allocation is closed after the idle timeout', async () => {
      const { sock } = await rawTcp();
      const t0 = Date.now();
      await new Promise<void>((r) => sock.once('close', () => r()));
      expect(Date.now() - t0).toBeGreaterThan(1500);
    });

    it('an allocation over TCP survives past the idle timeout', async () => {
      const { c, p } = await setup('tcp');
      await c.allocateRelayed();
      await c.channelBind(0x4002, p.address);
      await sleep(2500);
      c.sendChannelData(0x4002, Buffer.from('late'));
      expect((await p.next()).data.toString()).toBe('late');
      // A request with unknown attributes over TCP still gets 420 on the same connection.
      const res = await c.request(StunMethod.Refresh, [Attr.raw(0x0055, Buffer.alloc(4))]);
      expect(res.getErrorCode()?.code).toBe(420);
    });
  });
});
