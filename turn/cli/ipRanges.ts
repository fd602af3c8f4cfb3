/**
 * coturn's peer address forms (`allowed-peer-ip` / `denied-peer-ip`: an address, `FIRST-LAST`, or a
 * CIDR) turned into the CIDR list our settings take (TURN_ALLOWED_PEERS / TURN_DENIED_PEERS).
 */
import { isIP } from 'node:net';
import { CliError } from './common.js';

function toBigInt(ip: string): { n: bigint; bits: number } {
  if (isIP(ip) === 4) return { n: ip.split('.').reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n), bits: 32 };
  // IPv6: expand '::' and any embedded IPv4 tail, then read 8 groups.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = toBigInt(v4[1]!).n;
    text = `${text.slice(0, -v4[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { n: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n), bits: 128 };
}

function fromBigInt(n: bigint, bits: number): string {
  if (bits === 32) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  return groups.join(':');
}

/**
 * The smallest list of CIDRs covering exactly `first`..`last` (inclusive, same family).
 * @throws CliError when the addresses are invalid, of different families, or out of order.
 */
export function rangeToCidrs(first: string, last: string): string[] {
  if (isIP(first) === 0 || isIP(first) !== isIP(last)) throw new CliError(`bad address range ${first}-${last}: expected two IPv4 or two IPv6 addresses`);
  const a = toBigInt(first);
  let lo = a.n;
  const hi = toBigInt(last).n;
  if (lo > hi) throw new CliError(`bad address range ${first}-${last}: the first address is above the last`);
  const out: string[] = [];
  while (lo <= hi) {
    // The largest block that starts at lo (aligned) and does not pass hi.
    let size = 0;
    while (size < a.bits && ((lo >> BigInt(size)) & 1n) === 0n && lo + (1n << BigInt(size + 1)) - 1n <= hi) size++;
    out.push(`${fromBigInt(lo, a.bits)}/${a.bits - size}`);
    lo += 1n << BigInt(size);
  }
  return out;
}

/**
 * One coturn peer address value (`IP`, `IP/PREFIX` or `FIRST-LAST`) as CIDRs.
 * @throws CliError on a malformed value.
 */
export function peerSpecToCidrs(spec: string): string[] {
  const v = spec.trim();
  const dash = v.indexOf('-');
  if (dash > 0) return rangeToCidrs(v.slice(0, dash).trim(), v.slice(dash + 1).trim());
  const [addr, bits] = v.split('/') as [string, string | undefined];
  const family = isIP(addr);
  const max = family === 4 ? 32 : 128;
  if (family === 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
    throw new CliError(`bad peer address ${JSON.stringify(spec)}: expected an address, a CIDR or FIRST-LAST`);
  }
  return [bits === undefined ? `${addr}/${max}` : `${addr}/${bits}`];
}
