/**
 * The allocation manager's control-plane contract with the data path: every change is reported to
 * the observer, in order; revoking a user also fails its allocations that are still binding a socket.
 * Real UDP relay sockets on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import type { Allocation } from '../../turn/allocation/allocation.js';
import { AllocationManager, RevokedError, type AllocationObserver, type CreateAllocationParams } from '../../turn/allocation/manager.js';
import type { RelaySocketBinder } from '../../turn/dataPath.js';
import { bindUdpRelaySocket } from '../../turn/jsDataPath.js';
import type { ClientConnection } from '../../turn/transport/connection.js';
import { randomRelayRange } from '../helpers/ports.js';

function recorder(): { events: string[]; observer: AllocationObserver & RelaySocketBinder } {
  const events: string[] = [];
  const observer: AllocationObserver & RelaySocketBinder = {
    allocationCreated: (a) => events.push(`created ${a.username}`),
    allocationEnded: (a) => events.push(`ended ${a.username}`),
    permissionInstalled: (_a, ip, p) => events.push(`permission ${ip}${p.own ? ' own' : ''}`),
    permissionExpired: (_a, ip) => events.push(`permission expired ${ip}`),
    channelBound: (_a, b, own) => events.push(`channel 0x${b.number.toString(16)} ${b.peer.address}:${b.peer.port}${own ? ' own' : ''}`),
    channelExpired: (_a, b) => events.push(`channel expired 0x${b.number.toString(16)}`),
    // Real UDP sockets, as the JavaScript data path binds them.
    bindRelaySocket: bindUdpRelaySocket,
  };
  return { events, observer };
}

const client = { transport: 'udp', label: 'test', getAllocation: () => undefined, setAllocation: () => {} } as unknown as ClientConnection;

function params(username: string): CreateAllocationParams {
  return { client, username, key: Buffer.alloc(16), transactionIdHex: '00', relayIp: '127.0.0.1', family: 4, advertisedIp: '127.0.0.1', lifetimeMs: 60_000, port: { kind: 'any' } };
}

describe('AllocationManager → data path events', () => {
  it('reports creation, permissions, channels, their expiry and the end, in order', async () => {
    const r = randomRelayRange(10);
    const { events, observer } = recorder();
    const ends: string[] = [];
    const m = new AllocationManager(r.min, r.max, 0, 0, observer, (_a, reason) => ends.push(reason));
    const a: Allocation = await m.create(params('alice'));
    const now = Date.now();
    m.installPermission(a, '198.51.100.1', now + 1000, false);
    expect(m.bindChannel(a, 0x4001, { family: 4, address: '198.51.100.1', port: 5000 }, now + 2000, false, now)).toBe('created');
    expect(m.bindChannel(a, 0x4001, { family: 4, address: '198.51.100.1', port: 5000 }, now + 3000, true, now)).toBe('refreshed');
    expect(m.bindChannel(a, 0x4002, { family: 4, address: '198.51.100.1', port: 5000 }, now + 3000, false, now)).toBe('peer_in_use');
    m.sweep(now + 1500);
    m.sweep(now + 3500);
    m.end(a, 'deleted');
    m.end(a, 'deleted');
    expect(events).toEqual([
      'created alice',
      'permission 198.51.100.1',
      'channel 0x4001 198.51.100.1:5000',
      'channel 0x4001 198.51.100.1:5000 own',
      'permission expired 198.51.100.1',
      'channel expired 0x4001',
      'ended alice',
    ]);
    expect(ends).toEqual(['deleted']);
    expect(m.ports.used).toBe(0);
  });

  it('endUser ends live allocations of that user only, and fails the ones still being created', async () => {
    const r = randomRelayRange(10);
    const { events, observer } = recorder();
    const m = new AllocationManager(r.min, r.max, 0, 0, observer, () => {});
    await m.create(params('alice'));
    await m.create(params('bob'));
    const binding = m.create(params('alice')); // suspended in the socket bind
    expect(m.endUser('alice', 'revoked')).toBe(1);
    await expect(binding).rejects.toBeInstanceOf(RevokedError);
    expect([...m.allocations.values()].map((a) => a.username)).toEqual(['bob']);
    expect(events.filter((e) => e.startsWith('created'))).toEqual(['created alice', 'created bob']);
    expect(m.ports.used).toBe(1);
    // The revocation does not outlive the creates it caught.
    expect((await m.create(params('alice'))).username).toBe('alice');
    m.endAll('stopped');
  });
});
