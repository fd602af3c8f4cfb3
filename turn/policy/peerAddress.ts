/**
 * Which peer addresses a client may create permissions for (RFC 8656 §21.3 and the coturn defaults):
 * refuse loopback, private (RFC 1918), CGN (RFC 6598), link-local (incl. the cloud metadata address
 * 169.254.169.254), unique-local, multicast, unspecified, reserved/broadcast, and the IPv4-mapped IPv6
 * forms of all these — unless the address is inside an allowed CIDR. A refused peer gets 403 Forbidden.
 *
 * The relay's own addresses (listening, relay and external IPs) are special: when both callers of a
 * call use relay candidates on the same relay, each one's peer IS one of our relayed transport
 * addresses (coturn allows this by default). So a permission (by IP, RFC 8656 §9) for an own address
 * is allowed even when the address is in a refused range (e.g. 127.0.0.1 or a private IP), but data
 * may only be relayed to an own address when the destination PORT is a relay port, i.e. inside
 * [minPort, maxPort] and not one of the listening ports ({@link PeerAddressPolicy.checkTransport}):
 * the relay never becomes a way to reach its own services (HTTPS, SSH, the TURN port itself...).
 * An allowed CIDR covering an own address lifts that port restriction too (explicit operator choice).
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

/**
 * Decision for one peer address. `own: true` marks one of the relay's own addresses (allowed by IP,
 * but relaying to it is limited to relay ports: see {@link PeerAddressPolicy.ownPortAllowed}).
 */
export type PeerDecision = { allowed: true; own?: true } | { allowed: false; reason: string };

/** Relay port range and listening ports, for the own-address rule. */
export interface OwnPortRule {
  /** Relay port range, inclusive. */
  minPort: number;
  maxPort: number;
  /** Listening ports (UDP/TCP/TLS): never a valid destination on an own address, even inside the range. */
  listeningPorts?: readonly number[];
}

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
  private readonly extraDenied = new BlockList();
  private readonly own = new Set<string>();
  private readonly minPort: number;
  private readonly maxPort: number;
  private readonly listeningPorts: ReadonlySet<number>;

  /**
   * @param allowedPeers  CIDRs (or single addresses) that are always allowed, e.g. `['127.0.0.0/8']`.
   * @param ownAddresses  the relay's own addresses (listening, relay, external IPs): allowed by IP
   *                      (CreatePermission), relaying only to relay ports (see `ports`).
   * @param ports         relay port range and listening ports; default: no port is a relay port
   *                      (relaying to an own address is then always refused).
   * @param deniedPeers   CIDRs refused on top of the defaults (reason `denied_peer`), own addresses
   *                      included; `allowedPeers` still wins (coturn's `denied-peer-ip` rule).
   * @throws TypeError on a malformed CIDR.
   */
  constructor(allowedPeers: readonly string[] = [], ownAddresses: readonly string[] = [], ports?: OwnPortRule, deniedPeers: readonly string[] = []) {
    this.minPort = ports?.minPort ?? 1;
    this.maxPort = ports?.maxPort ?? 0;
    this.listeningPorts = new Set(ports?.listeningPorts ?? []);
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
    for (const c of deniedPeers) {
      const p = parseCidr(c);
      this.extraDenied.addSubnet(p.address, p.prefix, p.family);
    }
    for (const a of ownAddresses) this.own.add(normalizeAddress(a).address);
  }

  /**
   * Decide whether a permission for `address` may be installed (by IP only, RFC 8656 §9.2).
   * @param address IPv4 or IPv6 text (IPv4-mapped IPv6 is judged as the IPv4 address).
   * @returns `{ allowed: true }`, `{ allowed: true, own: true }` for one of the relay's own addresses
   *          (not covered by an allowed CIDR), or `{ allowed: false, reason }` with reason e.g.
   *          'loopback', 'private', 'link_local', 'invalid'.
   */
  check(address: string): PeerDecision {
    const { address: addr, family } = normalizeAddress(address);
    if (isIP(addr) === 0) return { allowed: false, reason: 'invalid' };
    const fam = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(addr, fam)) return { allowed: true };
    if (this.extraDenied.check(addr, fam)) return { allowed: false, reason: 'denied_peer' };
    if (this.own.has(addr)) return { allowed: true, own: true };
    for (const d of this.denied) if (d.list.check(addr, fam)) return { allowed: false, reason: d.reason };
    return { allowed: true };
  }

  /**
   * Whether `port` is a valid destination port on one of the relay's own addresses: inside the relay
   * port range and not a listening port (i.e. it can only be another relayed transport address).
   */
  ownPortAllowed(port: number): boolean {
    return port >= this.minPort && port <= this.maxPort && !this.listeningPorts.has(port);
  }

  /**
   * Decide whether data may be relayed to `address`:`port` (ChannelBind, RFC 8656 §11.2; Send, §10.2):
   * {@link check}, plus for an own address the port rule ({@link ownPortAllowed}).
   * @returns as {@link check}; reason 'own_address_port' for an own address with a non-relay port.
   */
  checkTransport(address: string, port: number): PeerDecision {
    const d = this.check(address);
    if (d.allowed && d.own && !this.ownPortAllowed(port)) return { allowed: false, reason: 'own_address_port' };
    return d;
  }
}
