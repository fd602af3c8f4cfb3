/**
 * Message integrity and fingerprint (RFC 8489 §14.5, §14.6, §14.7, §9.2.2).
 *
 * All functions work on an encoded message buffer and the byte offset of the attribute HEADER
 * (type/length) of MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 or FINGERPRINT. The hash covers the
 * message up to that attribute, with the header's length field set as if that attribute were the
 * last one; the input buffer is never modified.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as zlib from 'node:zlib';

/** XOR constant for FINGERPRINT ("STUN" in ASCII), RFC 8489 §14.7. */
export const FINGERPRINT_XOR = 0x5354554e;

/** HMAC algorithms for MESSAGE-INTEGRITY (sha1, 20 bytes) and MESSAGE-INTEGRITY-SHA256 (sha256, 32 bytes). */
export type IntegrityAlgorithm = 'sha1' | 'sha256';

/** Digest length in bytes per algorithm. */
export const INTEGRITY_LENGTH: Readonly<Record<IntegrityAlgorithm, number>> = { sha1: 20, sha256: 32 };

/**
 * Long-term credential key (RFC 8489 §9.2.2, PASSWORD-ALGORITHM MD5): MD5(username ":" realm ":" password).
 * (The SASLprep/OpaqueString step is the identity for the ASCII credentials WebRTC uses.)
 * @returns 16-byte key.
 */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}

/** Header copy whose length field pretends the message ends after `attrLength` bytes past `attrOffset`. */
function adjustedHeader(buf: Uint8Array, attrOffset: number, attrValueLength: number): Buffer {
  const header = Buffer.from(buf.subarray(0, 20));
  header.writeUInt16BE(attrOffset - 20 + 4 + attrValueLength, 2);
  return header;
}

/**
 * Compute the HMAC for a MESSAGE-INTEGRITY(-SHA256) attribute whose header is at `attrOffset`.
 * @param buf         encoded message (at least `attrOffset` bytes).
 * @param attrOffset  offset of the integrity attribute's type/length header (>= 20, multiple of 4).
 * @param key         HMAC key (long-term: MD5 key from {@link longTermKey}).
 * @returns 20 (sha1) or 32 (sha256) bytes.
 */
export function computeIntegrity(buf: Uint8Array, attrOffset: number, key: Uint8Array, algorithm: IntegrityAlgorithm = 'sha1'): Buffer {
  const hmac = createHmac(algorithm, key);
  hmac.update(adjustedHeader(buf, attrOffset, INTEGRITY_LENGTH[algorithm]));
  hmac.update(buf.subarray(20, attrOffset));
  return hmac.digest();
}

/**
 * Check a received MESSAGE-INTEGRITY(-SHA256) value in constant time (`crypto.timingSafeEqual`).
 * @param value  the attribute value as received (20 or 32 bytes; a truncated SHA256 value of >= 16 bytes is accepted per §14.6).
 * @returns true when it matches.
 */
export function verifyIntegrity(buf: Uint8Array, attrOffset: number, value: Uint8Array, key: Uint8Array, algorithm: IntegrityAlgorithm = 'sha1'): boolean {
  const expected = computeIntegrity(buf, attrOffset, key, algorithm);
  if (algorithm === 'sha1') {
    if (value.length !== 20) return false;
    return timingSafeEqual(expected, value);
  }
  if (value.length < 16 || value.length > 32 || value.length % 4 !== 0) return false;
  return timingSafeEqual(expected.subarray(0, value.length), value);
}

const CRC_TABLE: Uint32Array | undefined = typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? undefined : buildCrcTable();

function buildCrcTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** CRC-32 (ISO 3309 / zlib), continuing from `crc` (default 0). Uses `zlib.crc32` when Node has it. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!CRC_TABLE) return zlib.crc32(data, crc);
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * FINGERPRINT value for an attribute whose header is at `attrOffset` (RFC 8489 §14.7):
 * CRC-32 of the message before it (length field counting the 8-byte FINGERPRINT) XOR 0x5354554e.
 * @returns the 32-bit value (unsigned).
 */
export function computeFingerprint(buf: Uint8Array, attrOffset: number): number {
  const header = adjustedHeader(buf, attrOffset, 4);
  const crc = crc32(buf.subarray(20, attrOffset), crc32(header));
  return (crc ^ FINGERPRINT_XOR) >>> 0;
}
