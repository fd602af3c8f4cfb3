/** Peer-address policy table (RFC 8656 §21.3 / coturn defaults) and the unauthenticated-request token bucket. */
import { describe, expect, it } from 'vitest';
import { PeerAddressPolicy } from '../../turn/policy/peerAddress.js';
import { KeyedRateLimiter } from '../../common/tokenBucket.js';

describe('peer address policy', () => {
  const strict = new PeerAddressPolicy([], ['203.0.113.5']);
  const table: Array<[string, string | true]> = [
    ['8.8.8.8', true],
    ['198.51.100.20', true],
    ['2001:db8::5', true],
    ['2606:4700::1111', true],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', true],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgn'],
    ['100.127.255.255', 'cgn'],
    ['100.128.0.1', true],
    ['169.254.169.254', 'link_local'],
    ['169.254.1.1', 'link_local'],
    ['fe80::1', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:8.8.8.8', true],
    ['203.0.113.5', 'own'],
    ['::ffff:203.0.113.5', 'own'],
    ['not-an-ip', 'invalid'],
  ];
  it.each(table)('%s → %s', (address, expected) => {
    const d = strict.check(address);
    if (expected === true) expect(d).toEqual({ allowed: true });
    else if (expected === 'own') expect(d).toEqual({ allowed: true, own: true });
    else expect(d).toEqual({ allowed: false, reason: expected });
  });

  it('own addresses (even loopback/private ones): permission by IP, relaying only to relay ports', () => {
    const p = new PeerAddressPolicy([], ['127.0.0.1', '10.0.0.5', '203.0.113.5'], { minPort: 40000, maxPort: 40999, listeningPorts: [3478, 40500] });
    // CreatePermission (by IP, RFC 8656 §9).
    expect(p.check('127.0.0.1')).toEqual({ allowed: true, own: true });
    expect(p.check('10.0.0.5')).toEqual({ allowed: true, own: true });
    expect(p.check('127.0.0.2')).toEqual({ allowed: false, reason: 'loopback' });
    expect(p.check('10.0.0.6')).toEqual({ allowed: false, reason: 'private' });
    // ChannelBind / Send: the port must be a relay port and not a listening port.
    const table: Array<[string, number, string | true]> = [
      ['127.0.0.1', 40000, true],
      ['127.0.0.1', 40999, true],
      ['10.0.0.5', 40123, true],
      ['::ffff:127.0.0.1', 40001, true],
      ['203.0.113.5', 40002, true],
      ['127.0.0.1', 39999, 'own_address_port'],
      ['127.0.0.1', 41000, 'own_address_port'],
      ['127.0.0.1', 8443, 'own_address_port'],
      ['127.0.0.1', 22, 'own_address_port'],
      ['127.0.0.1', 3478, 'own_address_port'],
      ['127.0.0.1', 40500, 'own_address_port'], // a listening port inside the relay range
      ['203.0.113.5', 443, 'own_address_port'],
      ['127.0.0.2', 40000, 'loopback'],
      ['8.8.8.8', 53, true],
    ];
    for (const [address, port, expected] of table) {
      const d = p.checkTransport(address, port);
      if (expected === true) expect(d.allowed, `${address}:${port}`).toBe(true);
      else expect(d, `${address}:${port}`).toEqual({ allowed: false, reason: expected });
    }
    expect(p.ownPortAllowed(40000)).toBe(true);
    expect(p.ownPortAllowed(40500)).toBe(false);
    // Without a port rule no port of an own address is a relay port.
    expect(new PeerAddressPolicy([], ['127.0.0.1']).checkTransport('127.0.0.1', 40000)).toEqual({ allowed: false, reason: 'own_address_port' });
    // An allowed CIDR covering an own address is an explicit opt-in: any port.
    const open = new PeerAddressPolicy(['127.0.0.0/8'], ['127.0.0.1'], { minPort: 40000, maxPort: 40999 });
    expect(open.checkTransport('127.0.0.1', 8443)).toEqual({ allowed: true });
  });

  it('allowedPeers override the refusals (also for own addresses and mapped forms)', () => {
    const p = new PeerAddressPolicy(['127.0.0.0/8', '10.1.0.0/16', 'fd00::/8', '203.0.113.5'], ['203.0.113.5']);
    expect(p.check('127.0.0.1').allowed).toBe(true);
    expect(p.check('::ffff:127.0.0.2').allowed).toBe(true);
    expect(p.check('10.1.2.3').allowed).toBe(true);
    expect(p.check('10.2.0.1').allowed).toBe(false);
    expect(p.check('fd00::1').allowed).toBe(true);
    expect(p.check('203.0.113.5').allowed).toBe(true);
    expect(() => new PeerAddressPolicy(['10.0.0.0/33'])).toThrow(TypeError);
    expect(() => new PeerAddressPolicy(['nope/8'])).toThrow(TypeError);
  });

  it('deniedPeers (coturn denied-peer-ip) refuse more, own addresses included; allowedPeers still win', () => {
    const p = new PeerAddressPolicy(['198.51.100.7'], ['198.51.100.1'], undefined, ['198.51.100.0/24', '2001:db8::/32']);
    expect(p.check('198.51.100.9')).toEqual({ allowed: false, reason: 'denied_peer' });
    expect(p.check('::ffff:198.51.100.9')).toEqual({ allowed: false, reason: 'denied_peer' });
    expect(p.check('198.51.100.1')).toEqual({ allowed: false, reason: 'denied_peer' });
    expect(p.check('198.51.100.7')).toEqual({ allowed: true });
    expect(p.check('2001:db8::1')).toEqual({ allowed: false, reason: 'denied_peer' });
    expect(p.check('203.0.113.9')).toEqual({ allowed: true });
    expect(p.check('10.0.0.1')).toEqual({ allowed: false, reason: 'private' });
    expect(() => new PeerAddressPolicy([], [], undefined, ['10.0.0.0/40'])).toThrow(TypeError);
  });
});

describe('source rate limiter', () => {
  it('allows a burst, refills over time, per source, with bounded memory', () => {
    const l = new KeyedRateLimiter(5, 10, 100);
    const t = 1_000_000;
    let ok = 0;
    for (let i = 0; i < 20; i++) if (l.take('a', t)) ok++;
    expect(ok).toBe(5);
    expect(l.take('b', t)).toBe(true);
    expect(l.take('a', t + 100)).toBe(true); // +1 token after 100 ms at 10/s
    expect(l.take('a', t + 100)).toBe(false);
    for (let i = 0; i < 1000; i++) l.take(`s${i}`, t);
    expect(l.size).toBeLessThanOrEqual(100);
    l.sweep(t + 10_000);
    expect(l.size).toBe(0);
  });
});
