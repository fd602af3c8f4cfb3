/**
 * The native data path keeps the relay's own-address and hairpin rules (turn/README.md): data to or
 * from one of the relay's own IPs only on a relay port (inside [minPort, maxPort], not a listening
 * port), counted as own_address_port otherwise; with an external IP that is not local (1:1 NAT),
 * a peer at externalIp:relayPort is delivered to the local allocation on that port and datagrams
 * from a local relay address + relay port are seen as coming from the external IP.
 * The external IP used here (192.0.2.1, TEST-NET-1) never receives a packet: everything stays on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { randomRelayRange } from '../helpers/ports.js';
import { Udp, allocate, channelData, dataIndication, dropped, sendIndication, skipReason, startDataPath, until } from './native-helpers.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
});

const EXTERNAL = '192.0.2.1';

async function twoAllocations(hairpin: boolean) {
  const range = randomRelayRange(100);
  const t = await startDataPath({}, { minPort: range.min, maxPort: range.max, ...(hairpin ? { hairpinIp: EXTERNAL, hairpinFallbackIp: '127.0.0.1' } : {}) });
  const ca = await Udp.open();
  const cb = await Udp.open();
  cleanup.push(() => t.close(), () => ca.close(), () => cb.close());
  const a = await allocate(t, ca, { relayRange: range });
  const b = await allocate(t, cb, { relayRange: range });
  return { t, ca, cb, a, b, range };
}

/** A UDP socket on 127.0.0.1 whose port is outside `range`. */
async function outside(range: { min: number; max: number }): Promise<Udp> {
  for (;;) {
    const u = await Udp.open();
    cleanup.push(() => u.close());
    if (u.port < range.min || u.port > range.max) return u;
  }
}

describe.skipIf(skipReason !== undefined)('native data path: own-address rule and hairpin', () => {
  it('relays between two relayed addresses of ours, and only to relay ports', async () => {
    const { t, ca, cb, a, b, range } = await twoAllocations(false);
    t.dp.installPermission(a.handle, '127.0.0.1', true);
    t.dp.installPermission(b.handle, '127.0.0.1', true);
    const relayedA = { family: 4 as const, address: '127.0.0.1', port: a.relayPort };
    const relayedB = { family: 4 as const, address: '127.0.0.1', port: b.relayPort };
    ca.send(sendIndication(relayedB, Buffer.from('a->b')), t.port);
    expect((await cb.next()).data.equals(dataIndication(b.tid, relayedA, Buffer.from('a->b')))).toBe(true);
    t.dp.bindChannel(b.handle, 0x4009, '127.0.0.1', a.relayPort);
    cb.send(channelData(0x4009, Buffer.from('b->a')), t.port);
    expect((await ca.next()).data.equals(dataIndication(a.tid, relayedB, Buffer.from('b->a')))).toBe(true);

    // Our other ports: the listener (outside the range, and a listening port) and anything outside the range.
    const svc = await outside(range);
    ca.send(sendIndication({ family: 4, address: '127.0.0.1', port: t.port }, Buffer.from('to the TURN port')), t.port);
    ca.send(sendIndication(svc.address, Buffer.from('to a service')), t.port);
    // From our own address on a port outside the range: refused too.
    svc.send(Buffer.from('from a service'), a.relayPort);
    expect(await until(() => dropped(t, 'own_address_port') === 3)).toBe(true);
    expect(svc.received).toHaveLength(0);
    expect(ca.received).toHaveLength(0);
  });

  it('a listening port inside the relay range is not a relay port', async () => {
    const range = randomRelayRange(100);
    const t = await startDataPath({}, { minPort: range.min, maxPort: range.max });
    const c = await Udp.open();
    cleanup.push(() => t.close(), () => c.close());
    const a = await allocate(t, c, { relayRange: range });
    // Pretend a TCP/TLS listener sits on a port of the range: the policy lists it.
    const listening = a.relayPort === range.min ? range.min + 1 : range.min;
    t.dp.setPolicy({ minPort: range.min, maxPort: range.max, listeningPorts: [t.port, listening], localRelayIps: ['127.0.0.1'] });
    t.dp.installPermission(a.handle, '127.0.0.1', true);
    c.send(sendIndication({ family: 4, address: '127.0.0.1', port: listening }, Buffer.from('x')), t.port);
    expect(await until(() => dropped(t, 'own_address_port') === 1)).toBe(true);
  });

  it('a peer permitted as not-own (allowedPeers covers it) may use any port', async () => {
    const { t, ca, a, range } = await twoAllocations(false);
    const svc = await outside(range);
    t.dp.installPermission(a.handle, '127.0.0.1', false);
    ca.send(sendIndication(svc.address, Buffer.from('allowed')), t.port);
    expect((await svc.next()).data.toString()).toBe('allowed');
    svc.send(Buffer.from('back'), a.relayPort);
    expect((await ca.next()).data.equals(dataIndication(a.tid, svc.address, Buffer.from('back')))).toBe(true);
  });

  it('external IP without NAT hairpin: delivered to the local allocation, source seen as the external IP', async () => {
    const { t, ca, cb, a, b, range } = await twoAllocations(true);
    t.dp.installPermission(a.handle, EXTERNAL, true);
    t.dp.installPermission(b.handle, EXTERNAL, true);
    const extA = { family: 4 as const, address: EXTERNAL, port: a.relayPort };
    const extB = { family: 4 as const, address: EXTERNAL, port: b.relayPort };
    ca.send(sendIndication(extB, Buffer.from('a->b')), t.port);
    expect((await cb.next()).data.equals(dataIndication(b.tid, extA, Buffer.from('a->b')))).toBe(true);
    // Channels: the control plane binds the peer as named (external) and sends to the local relay address.
    t.dp.bindChannel(a.handle, 0x4001, EXTERNAL, b.relayPort, '127.0.0.1', b.relayPort);
    t.dp.bindChannel(b.handle, 0x4002, EXTERNAL, a.relayPort, '127.0.0.1', a.relayPort);
    for (let i = 0; i < 10; i++) {
      ca.send(channelData(0x4001, Buffer.from(`a->b ${i}`)), t.port);
      expect((await cb.next()).data.equals(channelData(0x4002, Buffer.from(`a->b ${i}`)))).toBe(true);
      cb.send(channelData(0x4002, Buffer.from(`b->a ${i}`)), t.port);
      expect((await ca.next()).data.equals(channelData(0x4001, Buffer.from(`b->a ${i}`)))).toBe(true);
    }
    // The external IP on a port outside the range: refused by the own-address rule, never sent.
    const stray = await outside(range);
    ca.send(sendIndication({ family: 4, address: EXTERNAL, port: stray.port }, Buffer.from('x')), t.port);
    expect(await until(() => dropped(t, 'own_address_port') === 1)).toBe(true);
    expect(t.dp.stats().dropped).toEqual({ own_address_port: 1 });
  });
});
