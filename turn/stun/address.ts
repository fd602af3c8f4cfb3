/**
 * IP address text <-> bytes, used by the STUN address attributes (RFC 8489 §14.1/§14.2) and by the
 * peer-address policy. Pure functions, no DNS.
 */
import { isIP } from 'node:net';
import type { TransportAddress } from '../../contracts/relay.js';

export type { TransportAddress };

/**
 * Parse an IPv4 or IPv6 address into 4 or 16 bytes.
 * @throws TypeError when `address` is not an IP literal.
 */
export function ipToBytes(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return ipv4ToBytes(address);
  if (family === 6) return ipv6ToBytes(address);
  throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
}

function ipv4ToBytes(address: string): Buffer {
  const out = Buffer.allocUnsafe(4);
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
  return out;
}

function ipv6ToBytes(address: string): Buffer {
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const out = Buffer.alloc(16);
  // Embedded IPv4 tail (e.g. ::ffff:1.2.3.4).
  let tail: Buffer | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    tail = ipv4ToBytes(text.slice(lastColon + 1));
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headGroups = head.length > 0 ? head.split(':') : [];
  const restGroups = rest !== undefined && rest.length > 0 ? rest.split(':') : [];
  headGroups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  restGroups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 16 - (restGroups.length - i) * 2));
  if (tail) tail.copy(out, 12);
  return out;
}

/** Format 4 or 16 bytes as an IP address text (IPv6 in RFC 5952 short form). @throws RangeError on another length. */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, got ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of zero groups (length >= 2) becomes '::'.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * Normalize an address as Node reports it: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes `1.2.3.4`.
 * @returns the address text and its family.
 */
export function normalizeAddress(address: string): { address: string; family: 4 | 6 } {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return { address: address.slice(7), family: 4 };
  return { address, family: isIP(address) === 6 ? 6 : 4 };
}
