/**
 * The client's IP address as seen through trusted reverse proxies (`TRUST_PROXY`). A proxy such as
 * the documented nginx (deploy/nginx.conf) connects from its own address and appends the address it
 * saw to `X-Forwarded-For`; that header is believed only when the connecting peer is a trusted
 * proxy, and then only as far back as the hops are trusted, so a client cannot choose its address
 * by sending the header itself. Used to key the per-address join rate limit.
 */
import { BlockList, isIP } from 'node:net';

/** Trusted proxy addresses; `loopback` is 127.0.0.0/8 and ::1, `off` trusts nothing. */
export class ProxyTrust {
  private readonly list = new BlockList();
  private readonly none: boolean;

  /**
   * @param entries `TRUST_PROXY`: `off`, or any of `loopback`, addresses, CIDRs (`10.0.0.0/8`, `fd00::/8`).
   * @throws Error for an entry that is none of these (config.ts validates them first).
   */
  constructor(entries: readonly string[]) {
    this.none = entries.includes('off');
    for (const e of entries) {
      if (e === 'off') continue;
      if (e === 'loopback') {
        this.list.addSubnet('127.0.0.0', 8, 'ipv4');
        this.list.addAddress('::1', 'ipv6');
        continue;
      }
      const [addr = '', bits] = e.split('/');
      const family = isIP(addr);
      if (family === 0) throw new Error(`TRUST_PROXY: not an address or CIDR: ${e}`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.list.addAddress(addr, type);
      else this.list.addSubnet(addr, Number(bits), type);
    }
  }

  /** True when `address` (IPv4, IPv6 or IPv4-mapped IPv6) is a trusted proxy. */
  trusts(address: string): boolean {
    if (this.none) return false;
    const a = plainAddress(address);
    const family = isIP(a);
    return family !== 0 && this.list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client address of a request: the connecting peer's address, or, when that peer is a
   * trusted proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted proxy
   * (each proxy appends the address it saw; entries further left are the client's own claims).
   * @param remote  the TCP peer address (`socket.remoteAddress`).
   * @param forwardedFor the `X-Forwarded-For` header(s), if any.
   * @returns an IPv4 or IPv6 address (IPv4-mapped IPv6 written as IPv4), or `unknown`.
   */
  clientAddress(remote: string | undefined, forwardedFor: string | string[] | undefined): string {
    let addr = plainAddress(remote ?? '');
    if (addr === '') return 'unknown';
    if (forwardedFor === undefined || !this.trusts(addr)) return addr;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plainAddress(hops[i]!.trim());
      if (isIP(hop) === 0) break;
      addr = hop;
      if (!this.trusts(hop)) break;
    }
    return addr;
  }
}

/** `::ffff:192.0.2.1` → `192.0.2.1` (dual-stack sockets report IPv4 peers that way); other text as is. */
export function plainAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}
