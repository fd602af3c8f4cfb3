/**
 * Data indications (RFC 8656 §10.3, §11.3): how the relay hands a peer's datagram to a client that
 * has no channel bound to that peer. Built for the per-packet path: the XOR-PEER-ADDRESS attribute
 * is encoded once per (allocation, peer) and reused, and each indication is one `allocUnsafe` plus
 * copies — no attribute list, no integrity, no FINGERPRINT (RFC 8656 §10.3 asks for none).
 */
import type { TransportAddress } from './address.js';
import { AttributeType, MAGIC_COOKIE, encodeXorAddress } from './attributes.js';
import { HEADER_LENGTH } from './message.js';

/** Message type of a Data indication (method 0x007, class indication). */
export const DATA_INDICATION_TYPE = 0x0017;

/**
 * Encode a whole XOR-PEER-ADDRESS attribute (4-byte header + value) for indications that use
 * transaction id `transactionId`.
 * @param peer           the peer transport address.
 * @param transactionId  12 bytes; the same id must be used in {@link encodeDataIndication}.
 * @returns a new buffer of 12 (IPv4) or 24 (IPv6) bytes.
 */
export function encodeXorPeerAddressAttribute(peer: TransportAddress, transactionId: Uint8Array): Buffer {
  const value = encodeXorAddress(peer, transactionId);
  const attr = Buffer.allocUnsafe(4 + value.length);
  attr.writeUInt16BE(AttributeType.XOR_PEER_ADDRESS, 0);
  attr.writeUInt16BE(value.length, 2);
  value.copy(attr, 4);
  return attr;
}

/**
 * Build a Data indication: header, the pre-encoded XOR-PEER-ADDRESS attribute, DATA (padded to 4 bytes).
 * @param transactionId  12 bytes (the one the peer attribute was encoded with).
 * @param peerAttribute  from {@link encodeXorPeerAddressAttribute}.
 * @param data           the peer's datagram (any length; copied).
 * @returns the message, or undefined when it would exceed the 16-bit STUN length (datagram > ~65 KB).
 */
export function encodeDataIndication(transactionId: Uint8Array, peerAttribute: Buffer, data: Buffer): Buffer | undefined {
  const len = data.length;
  const pad = (4 - (len & 3)) & 3;
  const total = HEADER_LENGTH + peerAttribute.length + 4 + len + pad;
  if (total - HEADER_LENGTH > 0xffff) return undefined;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt16BE(DATA_INDICATION_TYPE, 0);
  out.writeUInt16BE(total - HEADER_LENGTH, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  out.set(transactionId, 8);
  peerAttribute.copy(out, HEADER_LENGTH);
  const o = HEADER_LENGTH + peerAttribute.length;
  out.writeUInt16BE(AttributeType.DATA, o);
  out.writeUInt16BE(len, o + 2);
  data.copy(out, o + 4);
  if (pad) out.fill(0, o + 4 + len);
  return out;
}
