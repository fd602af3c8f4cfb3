/**
 * STUN message codec (RFC 8489 §5, §6; TURN methods from RFC 8656 §17), usable by a server and a client.
 *
 * Header: 2 bits zero, 14-bit message type (method + class), 16-bit length (attributes only,
 * multiple of 4), magic cookie 0x2112A442, 96-bit transaction id. Then TLV attributes padded to 4 bytes.
 *
 * - {@link decodeMessage}: bytes → {@link StunMessage} (attribute values are views into the input).
 * - {@link encodeMessage}: method/class/attributes → bytes, optionally appending
 *   MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT.
 */
import { randomBytes } from 'node:crypto';
import {
  AttributeType,
  MAGIC_COOKIE,
  decodeErrorCode,
  decodeUint32,
  decodeXorAddress,
  decodeAddress,
  type OutgoingAttribute,
} from './attributes.js';
import type { TransportAddress } from './address.js';
import { computeFingerprint, computeIntegrity, verifyIntegrity, type IntegrityAlgorithm } from './integrity.js';

/** STUN header length, bytes. */
export const HEADER_LENGTH = 20;

/** Methods (RFC 8489 §18.2, RFC 8656 §17). */
export const StunMethod = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
} as const;

/** Method names for logs and stats, by method code. */
export const MethodName: Readonly<Record<number, string>> = {
  0x001: 'Binding',
  0x003: 'Allocate',
  0x004: 'Refresh',
  0x006: 'Send',
  0x007: 'Data',
  0x008: 'CreatePermission',
  0x009: 'ChannelBind',
};

/** Message classes (RFC 8489 §5): the two class bits C1C0. */
export const StunClass = {
  Request: 0,
  Indication: 1,
  SuccessResponse: 2,
  ErrorResponse: 3,
} as const;
export type StunClassValue = (typeof StunClass)[keyof typeof StunClass];

/** Combine a 12-bit method and a 2-bit class into the 14-bit message type (RFC 8489 §5, figure 3). */
export function encodeMessageType(method: number, cls: number): number {
  return ((method & 0x0f80) << 2) | ((method & 0x0070) << 1) | (method & 0x000f) | ((cls & 0b10) << 7) | ((cls & 0b01) << 4);
}

/** Split a 14-bit message type into method and class. */
export function decodeMessageType(type: number): { method: number; cls: StunClassValue } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = (((type & 0x0100) >> 7) | ((type & 0x0010) >> 4)) as StunClassValue;
  return { method, cls };
}

/** Why a buffer is not a valid STUN message; used as the stats drop reason. */
export type StunDecodeReason = 'short' | 'not_stun' | 'bad_cookie' | 'bad_length' | 'truncated_attribute' | 'bad_fingerprint';

/** Thrown by {@link decodeMessage}; `reason` is a short machine-readable cause. */
export class StunDecodeError extends Error {
  constructor(
    readonly reason: StunDecodeReason,
    message: string,
  ) {
    super(message);
    this.name = 'StunDecodeError';
  }
}

/** One attribute as found in a decoded message. */
export interface RawAttribute {
  /** Attribute type code. */
  type: number;
  /** Offset of the attribute's type/length header within the message, bytes. */
  offset: number;
  /** The value (a view into the message buffer, without padding). */
  value: Buffer;
}

/** A decoded STUN message. Attribute values are views into `raw`: copy them to keep them past the buffer's life. */
export class StunMessage {
  constructor(
    /** 12-bit method, see {@link StunMethod}. */
    readonly method: number,
    /** Class, see {@link StunClass}. */
    readonly cls: StunClassValue,
    /** 12-byte transaction id (a view into `raw`). */
    readonly transactionId: Buffer,
    /** Attributes in order. After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are kept; nothing after FINGERPRINT (RFC 8489 §14.5). */
    readonly attributes: readonly RawAttribute[],
    /** The whole message (exactly header + length bytes). */
    readonly raw: Buffer,
  ) {}

  /** First attribute of `type`, or undefined. */
  attribute(type: number): RawAttribute | undefined {
    for (const a of this.attributes) if (a.type === type) return a;
    return undefined;
  }

  /** Value of the first attribute of `type`, or undefined. */
  get(type: number): Buffer | undefined {
    return this.attribute(type)?.value;
  }

  /** Values of all attributes of `type`, in order. */
  getAll(type: number): Buffer[] {
    return this.attributes.filter((a) => a.type === type).map((a) => a.value);
  }

  /** Whether an attribute of `type` is present. */
  has(type: number): boolean {
    return this.attribute(type) !== undefined;
  }

  /** UTF-8 text of an attribute (USERNAME, REALM, NONCE, SOFTWARE), or undefined. */
  getString(type: number): string | undefined {
    return this.get(type)?.toString('utf8');
  }

  /** A 32-bit attribute (LIFETIME...). @throws AttributeError when not 4 bytes. */
  getUint32(type: number): number | undefined {
    const v = this.get(type);
    return v === undefined ? undefined : decodeUint32(v);
  }

  /** An XOR address attribute (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS). @throws AttributeError when malformed. */
  getXorAddress(type: number): TransportAddress | undefined {
    const v = this.get(type);
    return v === undefined ? undefined : decodeXorAddress(v, this.transactionId);
  }

  /** A plain address attribute (MAPPED-ADDRESS, OTHER-ADDRESS...). @throws AttributeError when malformed. */
  getAddress(type: number): TransportAddress | undefined {
    const v = this.get(type);
    return v === undefined ? undefined : decodeAddress(v);
  }

  /** ERROR-CODE as `{ code, reason }`, or undefined. */
  getErrorCode(): { code: number; reason: string } | undefined {
    const v = this.get(AttributeType.ERROR_CODE);
    return v === undefined ? undefined : decodeErrorCode(v);
  }

  /**
   * Verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, with `key` (constant-time compare).
   * @returns the algorithm that matched, or false (also when neither attribute is present).
   */
  verifyIntegrity(key: Uint8Array): IntegrityAlgorithm | false {
    const sha256 = this.attribute(AttributeType.MESSAGE_INTEGRITY_SHA256);
    if (sha256) return verifyIntegrity(this.raw, sha256.offset, sha256.value, key, 'sha256') ? 'sha256' : false;
    const sha1 = this.attribute(AttributeType.MESSAGE_INTEGRITY);
    if (sha1) return verifyIntegrity(this.raw, sha1.offset, sha1.value, key, 'sha1') ? 'sha1' : false;
    return false;
  }
}

/** Quick check: could `buf` start a STUN message (first two bits 0, magic cookie present)? */
export function looksLikeStun(buf: Uint8Array): boolean {
  return buf.length >= HEADER_LENGTH && (buf[0]! & 0xc0) === 0 && buf[4] === 0x21 && buf[5] === 0x12 && buf[6] === 0xa4 && buf[7] === 0x42;
}

/**
 * Decode one STUN message.
 * @param buf  the bytes; over UDP exactly one datagram (trailing bytes are an error), over a stream
 *             exactly one framed message.
 * @returns the message; a present FINGERPRINT has been checked.
 * @throws StunDecodeError with `reason` short | not_stun | bad_cookie | bad_length | truncated_attribute | bad_fingerprint.
 */
export function decodeMessage(buf: Buffer): StunMessage {
  if (buf.length < HEADER_LENGTH) throw new StunDecodeError('short', `STUN message needs ${HEADER_LENGTH} bytes, got ${buf.length}`);
  if ((buf[0]! & 0xc0) !== 0) throw new StunDecodeError('not_stun', 'first two bits of a STUN message must be 0');
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) throw new StunDecodeError('bad_cookie', 'bad magic cookie');
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0) throw new StunDecodeError('bad_length', `message length ${length} is not a multiple of 4`);
  if (HEADER_LENGTH + length !== buf.length) throw new StunDecodeError('bad_length', `message length ${length} does not match ${buf.length - HEADER_LENGTH} bytes received`);
  const { method, cls } = decodeMessageType(buf.readUInt16BE(0));
  const attributes: RawAttribute[] = [];
  let offset = HEADER_LENGTH;
  let afterIntegrity = false;
  while (offset < buf.length) {
    if (offset + 4 > buf.length) throw new StunDecodeError('truncated_attribute', 'truncated attribute header');
    const type = buf.readUInt16BE(offset);
    const len = buf.readUInt16BE(offset + 2);
    const end = offset + 4 + len;
    if (end > buf.length) throw new StunDecodeError('truncated_attribute', `attribute 0x${type.toString(16)} length ${len} runs past the message`);
    const attr: RawAttribute = { type, offset, value: buf.subarray(offset + 4, end) };
    if (type === AttributeType.FINGERPRINT) {
      if (len !== 4 || computeFingerprint(buf, offset) !== attr.value.readUInt32BE(0)) throw new StunDecodeError('bad_fingerprint', 'FINGERPRINT does not match');
      attributes.push(attr);
      break;
    }
    if (!afterIntegrity || type === AttributeType.MESSAGE_INTEGRITY_SHA256) attributes.push(attr);
    if (type === AttributeType.MESSAGE_INTEGRITY || type === AttributeType.MESSAGE_INTEGRITY_SHA256) afterIntegrity = true;
    offset = end + ((4 - (len % 4)) % 4);
  }
  return new StunMessage(method, cls, buf.subarray(8, 20), attributes, buf);
}

/** What to encode: method, class, transaction id (random 12 bytes when omitted) and attributes. */
export interface StunMessageInit {
  method: number;
  cls: StunClassValue;
  /** 12 bytes; default random. */
  transactionId?: Uint8Array;
  attributes?: readonly OutgoingAttribute[];
}

/** How to finish the message. */
export interface EncodeOptions {
  /** Append MESSAGE-INTEGRITY (HMAC-SHA1) keyed with this key (long-term: MD5 key). */
  integrityKey?: Uint8Array;
  /** Use MESSAGE-INTEGRITY-SHA256 instead of MESSAGE-INTEGRITY (with `integrityKey`). */
  integritySha256?: boolean;
  /** Append FINGERPRINT (last). */
  fingerprint?: boolean;
}

/** A fresh random 12-byte transaction id. */
export function newTransactionId(): Buffer {
  return randomBytes(12);
}

/**
 * Encode a STUN message.
 * @returns the encoded bytes (a new buffer).
 * @throws RangeError when the transaction id is not 12 bytes or the message exceeds 65535 bytes of attributes.
 */
export function encodeMessage(init: StunMessageInit, options: EncodeOptions = {}): Buffer {
  const tid = init.transactionId ?? newTransactionId();
  if (tid.length !== 12) throw new RangeError(`transaction id must be 12 bytes, got ${tid.length}`);
  const attrs = init.attributes ?? [];
  const integrityLen = options.integrityKey ? (options.integritySha256 ? 32 : 20) : 0;
  let size = HEADER_LENGTH;
  for (const a of attrs) size += 4 + a.value.length + ((4 - (a.value.length % 4)) % 4);
  if (integrityLen) size += 4 + integrityLen;
  if (options.fingerprint) size += 8;
  if (size - HEADER_LENGTH > 0xffff) throw new RangeError('STUN message too large');
  const buf = Buffer.alloc(size);
  buf.writeUInt16BE(encodeMessageType(init.method, init.cls), 0);
  buf.writeUInt16BE(size - HEADER_LENGTH, 2);
  buf.writeUInt32BE(MAGIC_COOKIE, 4);
  buf.set(tid, 8);
  let offset = HEADER_LENGTH;
  for (const a of attrs) {
    buf.writeUInt16BE(a.type, offset);
    buf.writeUInt16BE(a.value.length, offset + 2);
    a.value.copy(buf, offset + 4);
    offset += 4 + a.value.length + ((4 - (a.value.length % 4)) % 4);
  }
  if (integrityLen) {
    const algorithm = options.integritySha256 ? 'sha256' : 'sha1';
    buf.writeUInt16BE(algorithm === 'sha256' ? AttributeType.MESSAGE_INTEGRITY_SHA256 : AttributeType.MESSAGE_INTEGRITY, offset);
    buf.writeUInt16BE(integrityLen, offset + 2);
    computeIntegrity(buf, offset, options.integrityKey!, algorithm).copy(buf, offset + 4);
    offset += 4 + integrityLen;
  }
  if (options.fingerprint) {
    buf.writeUInt16BE(AttributeType.FINGERPRINT, offset);
    buf.writeUInt16BE(4, offset + 2);
    buf.writeUInt32BE(computeFingerprint(buf, offset), offset + 4);
  }
  return buf;
}
