/**
 * The relay's own addresses (see turn/README.md, "The relay's own addresses" and "External IP
 * without NAT hairpin"): which local addresses the UDP listeners bind to, and, once bound, the
 * peer-address policy and the data path's own-address and hairpin rules that follow from them.
 */
import { networkInterfaces } from 'node:os';
import type { DataPathConfig } from './dataPath.js';
import { PeerAddressPolicy } from './policy/peerAddress.js';
import { normalizeAddress, type TransportAddress } from './stun/address.js';

/**
 * UDP listening addresses: `0.0.0.0` expands to every local IPv4 address and `::` to every
 * non-link-local IPv6 address (one socket each, like coturn, so the relay knows which address a
 * datagram arrived on); other addresses stay as they are.
 */
export function expandListenAddresses(listen: readonly string[]): string[] {
  const out = new Set<string>();
  const ifaces = Object.values(networkInterfaces()).flatMap((l) => l ?? []);
  for (const addr of listen) {
    if (addr === '0.0.0.0') for (const i of ifaces) if (i.family === 'IPv4') out.add(i.address);
    if (addr === '::') for (const i of ifaces) if (i.family === 'IPv6' && !i.address.toLowerCase().startsWith('fe80')) out.add(i.address);
    if (addr !== '0.0.0.0' && addr !== '::') out.add(addr);
  }
  return [...out];
}

/** What the rules are derived from (all known once the listeners are bound). */
export interface BoundAddresses {
  /** Configured listening addresses (may be wildcards). */
  listen: readonly string[];
  /** The UDP listening addresses actually bound (wildcards expanded). */
  udp: readonly string[];
  /** Every bound listening port (UDP, TCP, TLS). */
  listeningPorts: readonly number[];
  relayIp: string | undefined;
  externalIp: string | undefined;
  allowedPeers: readonly string[];
  /** Extra refused CIDRs (coturn `denied-peer-ip`). */
  deniedPeers?: readonly string[];
  minPort: number;
  maxPort: number;
}

/**
 * The peer-address policy (own addresses allowed by IP, data only to relay ports) and the data
 * path's address rules.
 * @throws TypeError on a malformed CIDR in `allowedPeers`.
 */
export function ownAddressRules(b: BoundAddresses): DataPathConfig {
  const own = new Set<string>([...b.udp, ...b.listen.filter((a) => a !== '0.0.0.0' && a !== '::')]);
  if (b.relayIp) own.add(b.relayIp);
  if (b.externalIp) own.add(b.externalIp);
  const policy = new PeerAddressPolicy(b.allowedPeers, [...own], { minPort: b.minPort, maxPort: b.maxPort, listeningPorts: b.listeningPorts }, b.deniedPeers);
  const localRelayIps = new Set(b.relayIp ? [normalizeAddress(b.relayIp).address] : b.udp.map((x) => normalizeAddress(x).address));
  const ext = b.externalIp ? normalizeAddress(b.externalIp).address : undefined;
  // An external IP that is not local: 1:1 NAT, possibly without hairpin.
  const hairpinIp = ext !== undefined && !localRelayIps.has(ext) && !b.udp.includes(ext) ? ext : undefined;
  const ownPorts = { minPort: b.minPort, maxPort: b.maxPort, listeningPorts: [...b.listeningPorts] };
  return { policy, ownPorts, hairpinIp, localRelayIps, relayIp: b.relayIp };
}

/**
 * Where data for one of our own relayed addresses goes (the hairpin rule, both data paths): a peer
 * at `hairpinIp`:`port` (our external IP, not a local address) is delivered to the local address of
 * the allocation holding relay port `port`, or to the relay IP when none does. Tracks live
 * allocations by relay port (ports are unique across relay IPs).
 */
export class HairpinTargets {
  private readonly byRelayPort = new Map<number, string>();
  private hairpinIp: string | undefined;
  private fallbackIp: string | undefined;

  /** Take the rules of `config` (start()). */
  configure(config: DataPathConfig): void {
    this.hairpinIp = config.hairpinIp;
    this.fallbackIp = config.relayIp ?? config.localRelayIps.values().next().value;
  }

  /** The relay IP used when no allocation holds the port (relay IP, else the first local relay IP). */
  get fallback(): string | undefined {
    return this.fallbackIp;
  }

  /** An allocation's relay socket is bound on `address`:`port`. */
  add(port: number, address: string): void {
    this.byRelayPort.set(port, address);
  }

  /** That allocation ended. */
  remove(port: number, address: string): void {
    if (this.byRelayPort.get(port) === address) this.byRelayPort.delete(port);
  }

  /** The IP to send to for `peer`, one of our own addresses on a relay port. */
  destination(peer: TransportAddress): string {
    if (this.hairpinIp === undefined || peer.address !== this.hairpinIp) return peer.address;
    return this.byRelayPort.get(peer.port) ?? this.fallbackIp ?? peer.address;
  }
}
