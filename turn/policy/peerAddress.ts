/**
 * Which peer addresses a client may create permissions for (RFC 8656 §21.3 and the coturn defaults):
 * refuse loopback, private (RFC 1918), CGN (RFC 6598), link-local (incl. the cloud metadata address
 * 169.254.169.254), unique-local, multicast, unspecified, reserved/broadcast, the IPv4-mapped IPv6
 * forms of all these, and the relay's own addresses — unless the address is inside an allowed CIDR.
 * A refused peer gets 403 Forbidden.
 */
import { BlockList, isIP } from 'node:net';
import { normalizeAddress } from '../stun/address.js';

/** The ranges refused by default, with the reason reported in stats and logs. */
export const DENIED_RANGES: ReadonlyArray<readonly [cidr: string, reason: string]> = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgn'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'], // includes 255.255.255.255 broadcast
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fc00::/7', 'unique_local'],
  ['fe80::/10', 'link_local'],
  ['ff00::/8', 'multicast'],
];

/** Decision for one peer address. */
export type PeerDecision = { allowed: true } | { allowed: false; reason: string };

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [addr, bits] = cidr.split('/') as [string, string | undefined];
  const norm = normalizeAddress(addr);
  const family = isIP(norm.address);
  if (family === 0) throw new TypeError(`not a CIDR: ${cidr}`);
  const max = family === 4 ? 32 : 128;
  let prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new TypeError(`bad prefix length in ${cidr}`);
  // An IPv4-mapped IPv6 CIDR (::ffff:a.b.c.d/104) becomes the IPv4 CIDR.
  if (norm.address !== addr && bits !== undefined) prefix = Math.max(0, prefix - 96);
  return { address: norm.address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** Peer-address policy (immutable once built). */
export class PeerAddressPolicy {
  private readonly allowed = new BlockList();
  private readonly denied: Array<{ list: BlockList; reason: string }> = [];
  private readonly own = new Set<string>();

  /**
   * @param allowedPeers  CIDRs (or single addresses) that are always allowed, e.g. `['127.0.0.0/8']`.
   * @param ownAddresses  the relay's own addresses (listening, relay, external IPs): refused unless allowed.
   * @throws TypeError on a malformed CIDR.
   */
  constructor(allowedPeers: readonly string[] = [], ownAddresses: readonly string[] = []) {
    for (const c of allowedPeers) {
      const p = parseCidr(c);
      this.allowed.addSubnet(p.address, p.prefix, p.family);
    }
    for (const [c, reason] of DENIED_RANGES) {
      const p = parseCidr(c);
      const list = new BlockList();
      list.addSubnet(p.address, p.prefix, p.family);
      this.denied.push({ list, reason });
    }
    for (const a of ownAddresses) this.own.add(normalizeAddress(a).address);
  }

  /**
   * Decide whether relaying to `address` is allowed.
   * @param address IPv4 or IPv6 text (IPv4-mapped IPv6 is judged as the IPv4 address).
   * @returns `{ allowed: true }` or `{ allowed: false, reason }` with reason e.g. 'loopback', 'private', 'own_address', 'invalid'.
   */
  check(address: string): PeerDecision {
    const { address: addr, family } = normalizeAddress(address);
    if (isIP(addr) === 0) return { allowed: false, reason: 'invalid' };
    const fam = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(addr, fam)) return { allowed: true };
    if (this.own.has(addr)) return { allowed: false, reason: 'own_address' };
    for (const d of this.denied) if (d.list.check(addr, fam)) return { allowed: false, reason: d.reason };
    return { allowed: true };
  }
}
