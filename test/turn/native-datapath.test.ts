/**
 * The native data path over real loopback UDP: STUN hand-off to JavaScript and responses, ChannelData
 * both ways, Send/Data indications (byte for byte what the JavaScript data path sends), permissions, channel
 * lookup, listener garbage, Send indication validation, TCP/TLS-style (stream) allocations.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Attr, AttributeType, StunClass, StunMethod, encodeMessage, newTransactionId } from '../../turn/stun/index.js';
import { Udp, allocate, bindingRequest, channelData, dataIndication, dropped, sameCounts, sendIndication, skipReason, startDataPath, until, knownRequired, type TestDataPath } from './native-helpers.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
});

async function setup(opts: Parameters<typeof startDataPath>[0] = {}) {
  const t = await startDataPath(opts);
  const client = await Udp.open();
  const peer = await Udp.open();
  cleanup.push(() => t.close(), () => client.close(), () => peer.close());
  const a = await allocate(t, client);
  return { t, client, peer, a };
}

describe.skipIf(skipReason !== undefined)('native data path: relaying', () => {
  it('hands STUN requests to JavaScript (worker, group, client address) and sends responses from the listener port', async () => {
    const t = await startDataPath();
    const client = await Udp.open();
    cleanup.push(() => t.close(), () => client.close());
    const req = bindingRequest();
    client.send(req, t.port);
    expect(await until(() => t.packets.length === 1)).toBe(true);
    const p = t.packets[0]!;
    expect(p).toMatchObject({ kind: 'stun', group: 0, address: '127.0.0.1', port: client.port });
    expect(p.kind === 'stun' && p.worker).toBeGreaterThanOrEqual(0);
    expect(p.data.equals(req)).toBe(true);
    expect(t.dp.send(0, '127.0.0.1', client.port, Buffer.from('response'))).toBeUndefined();
    const got = await client.next();
    expect(got.data.toString()).toBe('response');
    expect(got.port).toBe(t.port);
    expect(t.dp.stats().toJs).toBe(1);
    // A send to an address of the other family is refused with a code, not thrown.
    expect(t.dp.send(0, '::1', client.port, Buffer.from('x'))).toBe('EINVAL');
  });

  it('bounds the hand-off queue: while JavaScript is busy, requests beyond it are dropped and counted (js_queue_full)', async () => {
    const t = await startDataPath({ threads: 1, handoffEntries: 4 });
    const client = await Udp.open();
    cleanup.push(() => t.close(), () => client.close());
    const req = bindingRequest();
    for (let i = 0; i < 100; i++) client.send(req, t.port);
    // Keep the JavaScript thread busy so the queue cannot drain (both sides of the double buffer fill).
    const end = Date.now() + 500;
    while (Date.now() < end && t.dp.stats().toJs + dropped(t, 'js_queue_full') < 100);
    expect(await until(() => t.dp.stats().toJs + dropped(t, 'js_queue_full') === 100)).toBe(true);
    expect(dropped(t, 'js_queue_full')).toBeGreaterThan(0);
    expect(await until(() => t.packets.length === t.dp.stats().toJs)).toBe(true);
    expect(t.packets.length).toBeLessThanOrEqual(8);
  });

  it('spreads client five-tuples over the workers (SO_REUSEPORT) and keeps each one on its worker', async () => {
    const t = await startDataPath({ threads: 2 });
    cleanup.push(() => t.close());
    const clients = await Promise.all(Array.from({ length: 16 }, () => Udp.open()));
    cleanup.push(() => clients.forEach((c) => c.close()));
    for (const c of clients) c.send(bindingRequest(), t.port);
    expect(await until(() => t.packets.length === 16)).toBe(true);
    for (const c of clients) c.send(bindingRequest(), t.port);
    expect(await until(() => t.packets.length === 32)).toBe(true);
    const workerOf = new Map<number, Set<number>>();
    for (const p of t.packets) if (p.kind === 'stun') workerOf.set(p.port, (workerOf.get(p.port) ?? new Set()).add(p.worker));
    expect([...workerOf.values()].every((w) => w.size === 1)).toBe(true);
    expect(new Set([...workerOf.values()].map((w) => [...w][0])).size).toBe(2);
    expect(t.dp.info().workers).toBe(2);
  });

  it('relays ChannelData both ways, in order, and counts it', async () => {
    const { t, client, peer, a } = await setup();
    expect(t.dp.installPermission(a.handle, '127.0.0.1', false)).toBe(true);
    expect(t.dp.bindChannel(a.handle, 0x4001, '127.0.0.1', peer.port)).toBe(true);
    for (let i = 0; i < 50; i++) client.send(channelData(0x4001, Buffer.from(`c2p ${i}`)), t.port);
    for (let i = 0; i < 50; i++) {
      const m = await peer.next();
      expect(m.data.toString()).toBe(`c2p ${i}`);
      expect(m.port).toBe(a.relayPort);
    }
    for (let i = 0; i < 50; i++) peer.send(Buffer.from(`p2c ${i}`), a.relayPort);
    for (let i = 0; i < 50; i++) {
      const m = await client.next();
      expect(m.data.equals(channelData(0x4001, Buffer.from(`p2c ${i}`)))).toBe(true);
      expect(m.port).toBe(t.port);
    }
    const s = t.dp.stats();
    expect(s).toMatchObject({ c2pPackets: 50, c2pChannel: 50, p2cPackets: 50, p2cChannel: 50, allocations: 1 });
    expect(s.c2pBytes).toBe(Array.from({ length: 50 }, (_, i) => `c2p ${i}`.length).reduce((x, y) => x + y));
    expect(t.dp.allocationCounters(a.handle)).toMatchObject({ packetsToPeer: 50, packetsFromPeer: 50, droppedToPeer: 0 });
    expect(s.dropped).toEqual({});
  });

  it('relays Send indications; peer data without a channel arrives as the same Data indication the JavaScript data path builds', async () => {
    const { t, client, peer, a } = await setup();
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    client.send(sendIndication(peer.address, Buffer.from('via send')), t.port);
    expect((await peer.next()).data.toString()).toBe('via send');
    for (const len of [0, 1, 2, 3, 4, 5, 1000]) {
      const payload = Buffer.alloc(len, 0xab);
      peer.send(payload, a.relayPort);
      const m = await client.next();
      expect(m.data.equals(dataIndication(a.tid, peer.address, payload))).toBe(true);
    }
    const s = t.dp.stats();
    expect(s.c2pPackets).toBe(1);
    expect(s.c2pChannel).toBe(0);
    expect(s.p2cPackets).toBe(7);
    expect(s.p2cChannel).toBe(0);
  });

  it('drops peers without a permission both ways, and after the permission is removed', async () => {
    const { t, client, peer, a } = await setup();
    peer.send(Buffer.from('not yet'), a.relayPort);
    client.send(sendIndication(peer.address, Buffer.from('not yet')), t.port);
    expect(await until(() => dropped(t, 'peer_not_permitted') === 2)).toBe(true);
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    t.dp.bindChannel(a.handle, 0x4000, '127.0.0.1', peer.port);
    peer.send(Buffer.from('now'), a.relayPort);
    expect((await client.next()).data.subarray(4).toString()).toBe('now');
    expect(t.dp.removePermission(a.handle, '127.0.0.1')).toBe(true);
    peer.send(Buffer.from('expired'), a.relayPort);
    client.send(channelData(0x4000, Buffer.from('expired')), t.port);
    expect(await until(() => dropped(t, 'peer_not_permitted') === 4)).toBe(true);
    expect(client.received).toHaveLength(0);
    expect(peer.received).toHaveLength(0);
  });

  it('looks channels up by number and by peer transport address; unknown and unbound channels are dropped', async () => {
    const { t, client, peer, a } = await setup();
    const peer2 = await Udp.open();
    cleanup.push(() => peer2.close());
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    t.dp.bindChannel(a.handle, 0x4000, '127.0.0.1', peer.port);
    t.dp.bindChannel(a.handle, 0x4fff, '127.0.0.1', peer2.port);
    client.send(channelData(0x4fff, Buffer.from('to 2')), t.port);
    client.send(channelData(0x4000, Buffer.from('to 1')), t.port);
    expect((await peer2.next()).data.toString()).toBe('to 2');
    expect((await peer.next()).data.toString()).toBe('to 1');
    peer2.send(Buffer.from('from 2'), a.relayPort);
    expect((await client.next()).data.equals(channelData(0x4fff, Buffer.from('from 2')))).toBe(true);
    client.send(channelData(0x4abc, Buffer.from('nobody')), t.port);
    expect(await until(() => dropped(t, 'unknown_channel') === 1)).toBe(true);
    expect(t.dp.unbindChannel(a.handle, 0x4fff)).toBe(true);
    client.send(channelData(0x4fff, Buffer.from('gone')), t.port);
    expect(await until(() => dropped(t, 'unknown_channel') === 2)).toBe(true);
    // Without its channel, peer 2 still reaches the client, as a Data indication.
    peer2.send(Buffer.from('from 2 again'), a.relayPort);
    expect((await client.next()).data.equals(dataIndication(a.tid, peer2.address, Buffer.from('from 2 again')))).toBe(true);
    // Rebinding a number to another peer replaces the old peer's lookup too.
    t.dp.bindChannel(a.handle, 0x4000, '127.0.0.1', peer2.port);
    peer.send(Buffer.from('old peer'), a.relayPort);
    expect((await client.next()).data.equals(dataIndication(a.tid, peer.address, Buffer.from('old peer')))).toBe(true);
  });

  it('drops and counts 0–3 byte and other garbage datagrams on the listener, like the JavaScript path', async () => {
    const { t, client } = await setup();
    const stranger = await Udp.open();
    cleanup.push(() => stranger.close());
    const send = (u: Udp, hex: string) => u.send(Buffer.from(hex, 'hex'), t.port);
    send(client, ''); // short
    send(client, '40'); // short_channel_data (client has an allocation)
    send(client, '4000'); // short_channel_data
    send(client, '400000'); // short_channel_data
    send(client, '40000005aa'); // length past the datagram: short_channel_data
    send(stranger, '400000'); // no_allocation
    send(stranger, '00'); // short
    send(stranger, '0001'); // short
    send(stranger, 'c00000'); // not_stun
    send(stranger, '8000000000'); // not_stun
    const bad = Buffer.from(bindingRequest());
    bad[4] = 0;
    stranger.send(bad, t.port); // bad_cookie
    const badLen = Buffer.concat([bindingRequest(), Buffer.alloc(4)]);
    stranger.send(badLen, t.port); // bad_length
    const badFp = Buffer.from(bindingRequest());
    badFp[badFp.length - 1]! ^= 1;
    stranger.send(badFp, t.port); // bad_fingerprint
    const resp = encodeMessage({ method: StunMethod.Binding, cls: StunClass.SuccessResponse });
    stranger.send(resp, t.port); // unexpected_response
    const ind = encodeMessage({ method: StunMethod.Refresh, cls: StunClass.Indication });
    stranger.send(ind, t.port); // unexpected_indication
    stranger.send(encodeMessage({ method: StunMethod.Binding, cls: StunClass.Indication }), t.port); // ignored
    const expected = { short: 3, short_channel_data: 4, no_allocation: 1, not_stun: 2, bad_cookie: 1, bad_length: 1, bad_fingerprint: 1, unexpected_response: 1, unexpected_indication: 1 };
    await until(() => sameCounts(t.dp.stats().dropped, expected));
    expect(t.dp.stats().dropped).toEqual(expected);
    expect(t.dp.stats().ignored).toBe(1);
    expect(t.dp.stats().toJs).toBe(1); // the Binding request of allocate()
    expect(t.packets).toHaveLength(0);
  });

  it('validates Send indications: unknown comprehension-required attribute, missing attributes, bad XOR-PEER-ADDRESS, port 0', async () => {
    const { t, client, peer, a } = await setup();
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    const tid = newTransactionId();
    const send = (b: Buffer) => client.send(b, t.port);
    send(sendIndication(peer.address, Buffer.from('x'), [Attr.raw(0x7777, Buffer.alloc(4))])); // unknown_attribute
    send(sendIndication(peer.address, Buffer.from('x'), [Attr.raw(0xc001, Buffer.alloc(4))])); // comprehension-optional: relayed
    send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: tid, attributes: [Attr.xorPeerAddress(peer.address, tid)] })); // missing_attribute
    send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, attributes: [Attr.data(Buffer.from('x'))] })); // missing_attribute
    send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, attributes: [Attr.raw(AttributeType.XOR_PEER_ADDRESS, Buffer.from('0003aaaa01020304', 'hex')), Attr.data(Buffer.from('x'))] })); // bad_attribute (family)
    send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, attributes: [Attr.raw(AttributeType.XOR_PEER_ADDRESS, Buffer.from('0001aaaa0102', 'hex')), Attr.data(Buffer.from('x'))] })); // bad_attribute (length)
    send(sendIndication({ family: 4, address: '127.0.0.1', port: 0 }, Buffer.from('x'))); // bad_attribute (port 0)
    // Attributes after MESSAGE-INTEGRITY are ignored: a DATA there does not count.
    send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: tid, attributes: [Attr.xorPeerAddress(peer.address, tid)] }, { integrityKey: Buffer.alloc(16) }));
    const expected = { bad_attribute: 3, missing_attribute: 3, unknown_attribute: 1 };
    await until(() => sameCounts(t.dp.stats().dropped, expected));
    expect(t.dp.stats().dropped).toEqual(expected);
    expect((await peer.next()).data.toString()).toBe('x');
    expect(t.dp.stats().c2pPackets).toBe(1);
  });

  it('drops datagrams longer than the receive buffer (truncated)', async () => {
    const { t, client, peer, a } = await setup({ maxDatagram: 512 });
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    t.dp.bindChannel(a.handle, 0x4000, '127.0.0.1', peer.port);
    peer.send(Buffer.alloc(513), a.relayPort);
    client.send(channelData(0x4000, Buffer.alloc(600)), t.port);
    peer.send(Buffer.alloc(512), a.relayPort);
    expect((await client.next()).data.length).toBe(516);
    expect(await until(() => dropped(t, 'truncated') === 2)).toBe(true);
    expect(peer.received).toHaveLength(0);
  });

  it('stream (TCP/TLS) allocations: peer data is handed to JavaScript framed and padded; client frames are relayed by relayFromClient', async () => {
    const t = await startDataPath();
    const peer = await Udp.open();
    cleanup.push(() => t.close(), () => peer.close());
    const relay = t.dp.bindRelay('127.0.0.1', 0);
    if ('error' in relay) throw new Error(relay.error);
    const tid = newTransactionId();
    const handle = t.dp.createAllocation({ socket: relay.socket, worker: -1, stream: true, transactionId: tid });
    if (typeof handle !== 'number') throw new Error(handle);
    t.dp.installPermission(handle, '127.0.0.1', false);
    peer.send(Buffer.from('abcde'), relay.port);
    expect(await until(() => t.packets.length === 1)).toBe(true);
    expect(t.packets[0]).toMatchObject({ kind: 'toClient', handle });
    expect(t.packets[0]!.data.equals(dataIndication(tid, peer.address, Buffer.from('abcde')))).toBe(true);
    t.dp.bindChannel(handle, 0x4002, '127.0.0.1', peer.port);
    peer.send(Buffer.from('abcde'), relay.port);
    expect(await until(() => t.packets.length === 2)).toBe(true);
    expect(t.packets[1]!.data.equals(Buffer.concat([channelData(0x4002, Buffer.from('abcde')), Buffer.alloc(3)]))).toBe(true);
    // From the client: padded ChannelData and a Send indication.
    expect(t.dp.relayFromClient(handle, Buffer.concat([channelData(0x4002, Buffer.from('xyz')), Buffer.alloc(1)]))).toBeUndefined();
    expect((await peer.next()).data.toString()).toBe('xyz');
    expect(t.dp.relayFromClient(handle, sendIndication(peer.address, Buffer.from('ind')))).toBeUndefined();
    expect((await peer.next()).data.toString()).toBe('ind');
    expect(t.dp.relayFromClient(handle, channelData(0x4003, Buffer.from('?')))).toBe('unknown_channel');
    expect(t.dp.relayFromClient(handle, Buffer.from('40', 'hex'))).toBe('short_channel_data');
    expect(t.dp.endAllocation(handle)).toBe(true);
    expect(t.dp.relayFromClient(handle, channelData(0x4002, Buffer.from('late')))).toBe('no_allocation');
  });

  it('refuses a second allocation for the same five-tuple, unknown sockets and handles', async () => {
    const { t, client, a } = await setup();
    const relay = t.dp.bindRelay('127.0.0.1', 0);
    if ('error' in relay) throw new Error(relay.error);
    const tid = newTransactionId();
    expect(t.dp.createAllocation({ socket: relay.socket, worker: a.worker, stream: false, group: 0, clientIp: '127.0.0.1', clientPort: client.port, transactionId: tid })).toBe('client_in_use');
    expect(t.dp.createAllocation({ socket: 99999, worker: 0, stream: true, transactionId: tid })).toBe('bad_socket');
    expect(t.dp.closeRelay(relay.socket)).toBe(true);
    expect(t.dp.closeRelay(relay.socket)).toBe(false);
    expect(t.dp.bindRelay('127.0.0.1', a.relayPort)).toEqual({ error: 'EADDRINUSE' });
    expect(t.dp.endAllocation(a.handle)).toBe(true);
    expect(t.dp.endAllocation(a.handle)).toBe(false);
    expect(t.dp.installPermission(a.handle, '127.0.0.1', false)).toBe(false);
    expect(t.dp.allocationCounters(a.handle)).toBeUndefined();
    expect(() => t.dp.installPermission(a.handle, 'not-an-ip', false)).toThrow(TypeError);
  });
});

describe.skipIf(skipReason !== undefined)('native data path: IPv6 and lifecycle', () => {
  it('relays over IPv6 (::1): ChannelData and a Data indication with an IPv6 XOR-PEER-ADDRESS', async () => {
    const packets: import('../../turn/native/nativeDataPath.js').NativePacket[] = [];
    const { createNativeDataPath, NativeDataPath } = await import('../../turn/native/nativeDataPath.js');
    const dp = createNativeDataPath({ threads: 1, knownRequired }, (b) => packets.push(...b));
    if (!(dp instanceof NativeDataPath)) throw new Error(dp.reason);
    cleanup.push(() => dp.stop());
    const l = dp.addListener('::1', 0);
    if ('error' in l) throw new Error(l.error);
    dp.setPolicy({ minPort: 1024, maxPort: 65535, listeningPorts: [l.port], localRelayIps: ['::1'] });
    // An allocation created before start() is polled from start() on.
    const client = await Udp.open('::1');
    const peer = await Udp.open('::1');
    cleanup.push(() => client.close(), () => peer.close());
    const relay = dp.bindRelay('::1', 0);
    if ('error' in relay) throw new Error(relay.error);
    const tid = newTransactionId();
    const h = dp.createAllocation({ socket: relay.socket, worker: 0, stream: false, group: 0, clientIp: '::1', clientPort: client.port, transactionId: tid });
    if (typeof h !== 'number') throw new Error(h);
    expect(dp.start()).toBeUndefined();
    dp.installPermission(h, '::1', false);
    peer.send(Buffer.from('v6 data'), relay.port, '::1');
    const m = await client.next();
    expect(m.data.length).toBe(48 + 8);
    expect(m.data.equals(dataIndication(tid, peer.address, Buffer.from('v6 data')))).toBe(true);
    dp.bindChannel(h, 0x4001, '::1', peer.port);
    client.send(channelData(0x4001, Buffer.from('v6 channel')), l.port, '::1');
    expect((await peer.next()).data.toString()).toBe('v6 channel');
    // An IPv4 client address cannot belong to an IPv6 listener.
    const r2 = dp.bindRelay('::1', 0);
    if ('error' in r2) throw new Error(r2.error);
    expect(dp.createAllocation({ socket: r2.socket, worker: 0, stream: false, group: 0, clientIp: '127.0.0.1', clientPort: 1, transactionId: tid })).toBe('bad_worker_or_group');
    expect(dp.stats().dropped).toEqual({});
  });

  it('stop() is idempotent and every call after it answers without crashing', async () => {
    const t = await startDataPath();
    const relay = t.dp.bindRelay('127.0.0.1', 0);
    t.dp.stop();
    t.dp.stop();
    expect(t.dp.send(0, '127.0.0.1', 9, Buffer.from('x'))).toBe('EBADF');
    expect(t.dp.bindRelay('127.0.0.1', 0)).toEqual({ error: 'EBADF' });
    expect(t.dp.addListener('127.0.0.1', 0)).toEqual({ error: 'EBADF' });
    expect(t.dp.createAllocation({ socket: 'socket' in relay ? relay.socket : 0, worker: 0, stream: true, transactionId: Buffer.alloc(12) })).toBe('bad_socket');
    expect(t.dp.start()).toBe('EALREADY');
    expect(t.dp.stats().allocations).toBe(0);
  });
});
