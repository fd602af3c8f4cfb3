/**
 * STUN/TURN attribute types and value codecs (RFC 8489 §14, RFC 8656 §18).
 *
 * Every codec works on the attribute VALUE only (no type/length header, no padding); the message
 * codec (`message.ts`) adds headers and padding. Decoders throw {@link AttributeError} on malformed
 * values; the server turns that into a 400 or a counted drop.
 */
import { bytesToIp, ipToBytes, type TransportAddress } from './address.js';

/** Attribute type codes. 0x0000–0x7FFF are comprehension-required, 0x8000–0xFFFF comprehension-optional. */
export const AttributeType = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  PADDING: 0x0026,
  RESPONSE_PORT: 0x0027,
  CONNECTION_ID: 0x002a,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  ADDRESS_ERROR_CODE: 0x8001,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  ICMP: 0x8004,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  TRANSACTION_TRANSMIT_COUNTER: 0x8025,
  CACHE_TIMEOUT: 0x8027,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
} as const;

/** True for comprehension-required attribute types (0x0000–0x7FFF, RFC 8489 §14). */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

/** Standard reason phrases for the error codes this relay sends (RFC 8489 §14.8, RFC 8656 §19). */
export const ErrorReason: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/** Thrown by attribute decoders on a malformed value. */
export class AttributeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttributeError';
  }
}

/** STUN magic cookie (RFC 8489 §5). */
export const MAGIC_COOKIE = 0x2112a442;
const COOKIE_BYTES = Buffer.from([0x21, 0x12, 0xa4, 0x42]);

/** Protocol numbers for REQUESTED-TRANSPORT (RFC 8656 §18.7). */
export const TransportProtocol = { UDP: 17, TCP: 6 } as const;

/** Address family codes inside address attributes and REQUESTED-ADDRESS-FAMILY. */
export const AddressFamilyCode = { IPv4: 0x01, IPv6: 0x02 } as const;

function familyCode(family: 4 | 6): number {
  return family === 4 ? 0x01 : 0x02;
}

/** Encode MAPPED-ADDRESS-style value (RFC 8489 §14.1): 0, family, port, address. */
export function encodeAddress(addr: TransportAddress): Buffer {
  const ip = ipToBytes(addr.address);
  const out = Buffer.alloc(4 + ip.length);
  out[1] = ip.length === 4 ? 0x01 : 0x02;
  out.writeUInt16BE(addr.port, 2);
  ip.copy(out, 4);
  return out;
}

/** Decode a MAPPED-ADDRESS-style value. @throws AttributeError on a bad family or length. */
export function decodeAddress(value: Buffer): TransportAddress {
  if (value.length < 4) throw new AttributeError('address attribute too short');
  const fam = value[1];
  const expected = fam === 0x01 ? 8 : fam === 0x02 ? 20 : -1;
  if (expected < 0) throw new AttributeError(`unknown address family 0x${fam!.toString(16)}`);
  if (value.length !== expected) throw new AttributeError(`address attribute length ${value.length}, expected ${expected}`);
  return { family: fam === 0x01 ? 4 : 6, port: value.readUInt16BE(2), address: bytesToIp(value.subarray(4)) };
}

/**
 * Encode an XOR-*-ADDRESS value (RFC 8489 §14.2): port XOR the cookie's high 16 bits; IPv4 XOR the
 * cookie; IPv6 XOR cookie‖transaction id.
 * @param transactionId 12 bytes (needed for IPv6 only).
 */
export function encodeXorAddress(addr: TransportAddress, transactionId: Uint8Array): Buffer {
  const ip = ipToBytes(addr.address);
  const out = Buffer.allocUnsafe(4 + ip.length);
  out[0] = 0;
  out[1] = familyCode(ip.length === 4 ? 4 : 6);
  out.writeUInt16BE((addr.port ^ (MAGIC_COOKIE >>> 16)) & 0xffff, 2);
  for (let i = 0; i < ip.length; i++) out[4 + i] = ip[i]! ^ (i < 4 ? COOKIE_BYTES[i]! : transactionId[i - 4]!);
  return out;
}

/** Decode an XOR-*-ADDRESS value. @throws AttributeError on a bad family or length. */
export function decodeXorAddress(value: Buffer, transactionId: Uint8Array): TransportAddress {
  if (value.length < 4) throw new AttributeError('address attribute too short');
  const fam = value[1];
  const len = fam === 0x01 ? 4 : fam === 0x02 ? 16 : -1;
  if (len < 0) throw new AttributeError(`unknown address family 0x${fam!.toString(16)}`);
  if (value.length !== 4 + len) throw new AttributeError(`address attribute length ${value.length}, expected ${4 + len}`);
  const ip = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) ip[i] = value[4 + i]! ^ (i < 4 ? COOKIE_BYTES[i]! : transactionId[i - 4]!);
  return { family: len === 4 ? 4 : 6, port: value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16), address: bytesToIp(ip) };
}

/** Encode ERROR-CODE (RFC 8489 §14.8). @param code 300–699. @param reason UTF-8, < 128 characters (default: standard phrase). */
export function encodeErrorCode(code: number, reason = ErrorReason[code] ?? ''): Buffer {
  if (!Number.isInteger(code) || code < 300 || code > 699) throw new RangeError(`error code must be 300–699, got ${code}`);
  const text = Buffer.from(reason, 'utf8');
  const out = Buffer.alloc(4 + text.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  text.copy(out, 4);
  return out;
}

/** Decode ERROR-CODE. @returns `{ code, reason }`. @throws AttributeError when shorter than 4 bytes. */
export function decodeErrorCode(value: Buffer): { code: number; reason: string } {
  if (value.length < 4) throw new AttributeError('ERROR-CODE too short');
  return { code: (value[2]! & 0x07) * 100 + value[3]!, reason: value.toString('utf8', 4) };
}

/** Encode UNKNOWN-ATTRIBUTES (RFC 8489 §14.9): a list of 16-bit types. */
export function encodeUnknownAttributes(types: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(types.length * 2);
  types.forEach((t, i) => out.writeUInt16BE(t, i * 2));
  return out;
}

/** Decode UNKNOWN-ATTRIBUTES. @throws AttributeError on an odd length. */
export function decodeUnknownAttributes(value: Buffer): number[] {
  if (value.length % 2 !== 0) throw new AttributeError('UNKNOWN-ATTRIBUTES length must be even');
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 2) out.push(value.readUInt16BE(i));
  return out;
}

/** Encode a 32-bit unsigned value (LIFETIME in seconds, PRIORITY...). */
export function encodeUint32(n: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(n >>> 0, 0);
  return out;
}

/** Decode a 32-bit unsigned value. @throws AttributeError when the value is not 4 bytes. */
export function decodeUint32(value: Buffer): number {
  if (value.length !== 4) throw new AttributeError(`expected a 4-byte value, got ${value.length}`);
  return value.readUInt32BE(0);
}

/** Encode CHANNEL-NUMBER (RFC 8656 §18.1): number then 16 reserved bits. */
export function encodeChannelNumber(channel: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt16BE(channel, 0);
  return out;
}

/** Decode CHANNEL-NUMBER. @throws AttributeError when the value is not 4 bytes. */
export function decodeChannelNumber(value: Buffer): number {
  if (value.length !== 4) throw new AttributeError(`CHANNEL-NUMBER must be 4 bytes, got ${value.length}`);
  return value.readUInt16BE(0);
}

/** Encode REQUESTED-TRANSPORT (RFC 8656 §18.7): protocol number then 3 reserved bytes. */
export function encodeRequestedTransport(protocol: number): Buffer {
  return Buffer.from([protocol, 0, 0, 0]);
}

/** Decode REQUESTED-TRANSPORT. @returns the IP protocol number (17 = UDP). @throws AttributeError when not 4 bytes. */
export function decodeRequestedTransport(value: Buffer): number {
  if (value.length !== 4) throw new AttributeError(`REQUESTED-TRANSPORT must be 4 bytes, got ${value.length}`);
  return value[0]!;
}

/** Encode REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.8). */
export function encodeRequestedAddressFamily(family: 4 | 6): Buffer {
  return Buffer.from([familyCode(family), 0, 0, 0]);
}

/** Decode REQUESTED-ADDRESS-FAMILY. @returns 4 or 6. @throws AttributeError on a bad length or unknown family. */
export function decodeRequestedAddressFamily(value: Buffer): 4 | 6 {
  if (value.length !== 4) throw new AttributeError('REQUESTED-ADDRESS-FAMILY must be 4 bytes');
  if (value[0] === 0x01) return 4;
  if (value[0] === 0x02) return 6;
  throw new AttributeError(`unknown address family 0x${value[0]!.toString(16)}`);
}

/** Encode EVEN-PORT (RFC 8656 §18.6): R bit asks to reserve the next port. */
export function encodeEvenPort(reserve: boolean): Buffer {
  return Buffer.from([reserve ? 0x80 : 0]);
}

/** Decode EVEN-PORT. @returns whether the R bit is set. @throws AttributeError when empty. */
export function decodeEvenPort(value: Buffer): boolean {
  if (value.length < 1) throw new AttributeError('EVEN-PORT must be at least 1 byte');
  return (value[0]! & 0x80) !== 0;
}

/** A ready-to-encode attribute: type code and value (without padding). */
export interface OutgoingAttribute {
  type: number;
  value: Buffer;
}

/**
 * Builders for the attributes a TURN client or server sends. Each returns an {@link OutgoingAttribute}.
 * XOR address builders need the message's transaction id (12 bytes).
 */
export const Attr = {
  username: (name: string): OutgoingAttribute => ({ type: AttributeType.USERNAME, value: Buffer.from(name, 'utf8') }),
  realm: (realm: string): OutgoingAttribute => ({ type: AttributeType.REALM, value: Buffer.from(realm, 'utf8') }),
  nonce: (nonce: string): OutgoingAttribute => ({ type: AttributeType.NONCE, value: Buffer.from(nonce, 'utf8') }),
  software: (text: string): OutgoingAttribute => ({ type: AttributeType.SOFTWARE, value: Buffer.from(text, 'utf8') }),
  errorCode: (code: number, reason?: string): OutgoingAttribute => ({ type: AttributeType.ERROR_CODE, value: encodeErrorCode(code, reason) }),
  unknownAttributes: (types: readonly number[]): OutgoingAttribute => ({ type: AttributeType.UNKNOWN_ATTRIBUTES, value: encodeUnknownAttributes(types) }),
  lifetime: (seconds: number): OutgoingAttribute => ({ type: AttributeType.LIFETIME, value: encodeUint32(seconds) }),
  channelNumber: (channel: number): OutgoingAttribute => ({ type: AttributeType.CHANNEL_NUMBER, value: encodeChannelNumber(channel) }),
  requestedTransport: (protocol: number = TransportProtocol.UDP): OutgoingAttribute => ({ type: AttributeType.REQUESTED_TRANSPORT, value: encodeRequestedTransport(protocol) }),
  requestedAddressFamily: (family: 4 | 6): OutgoingAttribute => ({ type: AttributeType.REQUESTED_ADDRESS_FAMILY, value: encodeRequestedAddressFamily(family) }),
  evenPort: (reserve = false): OutgoingAttribute => ({ type: AttributeType.EVEN_PORT, value: encodeEvenPort(reserve) }),
  dontFragment: (): OutgoingAttribute => ({ type: AttributeType.DONT_FRAGMENT, value: Buffer.alloc(0) }),
  data: (data: Buffer): OutgoingAttribute => ({ type: AttributeType.DATA, value: data }),
  mappedAddress: (addr: TransportAddress): OutgoingAttribute => ({ type: AttributeType.MAPPED_ADDRESS, value: encodeAddress(addr) }),
  xorMappedAddress: (addr: TransportAddress, tid: Uint8Array): OutgoingAttribute => ({ type: AttributeType.XOR_MAPPED_ADDRESS, value: encodeXorAddress(addr, tid) }),
  xorPeerAddress: (addr: TransportAddress, tid: Uint8Array): OutgoingAttribute => ({ type: AttributeType.XOR_PEER_ADDRESS, value: encodeXorAddress(addr, tid) }),
  xorRelayedAddress: (addr: TransportAddress, tid: Uint8Array): OutgoingAttribute => ({ type: AttributeType.XOR_RELAYED_ADDRESS, value: encodeXorAddress(addr, tid) }),
  raw: (type: number, value: Buffer): OutgoingAttribute => ({ type, value }),
};
