/**
 * ChannelData messages (RFC 8656 §12.4): 2-byte channel number (0x4000–0x4FFF), 2-byte data
 * length, then the data. Over UDP the datagram may carry no padding; over TCP/TLS each message is
 * padded to a multiple of 4 bytes (§12.5), and the padding is not counted in the length.
 */

/** Lowest and highest valid channel numbers (RFC 8656 §12). */
export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x4fff;

/** ChannelData header length, bytes. */
export const CHANNEL_DATA_HEADER = 4;

/** Highest channel number of the older RFC 5766 range (0x4000–0x7FFF). */
export const MAX_CHANNEL_RFC5766 = 0x7fff;

/**
 * Whether `channel` is a valid TURN channel number: 0x4000–0x4FFF (RFC 8656 §12), or with
 * `legacy` 0x4000–0x7FFF (RFC 5766 §11).
 */
export function isValidChannel(channel: number, legacy = false): boolean {
  return channel >= MIN_CHANNEL && channel <= (legacy ? MAX_CHANNEL_RFC5766 : MAX_CHANNEL);
}

/** Whether the first byte starts a ChannelData message (first two bits 01, RFC 8656 §12.4 / RFC 7983). */
export function looksLikeChannelData(buf: Uint8Array): boolean {
  return buf.length > 0 && (buf[0]! & 0xc0) === 0x40;
}

/**
 * Encode a ChannelData message into a new buffer.
 * @param channel 0x4000–0x4FFF (0x4000–0x7FFF accepted for RFC 5766 peers).
 * @param data    payload (at most 65535 bytes).
 * @param pad     pad to a multiple of 4 bytes (TCP/TLS); default false (UDP).
 * @throws RangeError on an invalid channel or an oversized payload.
 */
export function encodeChannelData(channel: number, data: Uint8Array, pad = false): Buffer {
  if (!isValidChannel(channel, true)) throw new RangeError(`channel number must be 0x4000–0x7FFF, got 0x${channel.toString(16)}`);
  if (data.length > 0xffff) throw new RangeError('ChannelData payload too large');
  const total = CHANNEL_DATA_HEADER + data.length + (pad ? (4 - (data.length % 4)) % 4 : 0);
  const out = Buffer.allocUnsafe(total);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  out.set(data, 4);
  if (total > 4 + data.length) out.fill(0, 4 + data.length);
  return out;
}

/**
 * Decode a ChannelData message without copying.
 * @returns `{ channel, data }` (data is a view into `buf`), or undefined when `buf` is shorter than
 *          the header or than the length it announces.
 */
export function decodeChannelData(buf: Buffer): { channel: number; data: Buffer } | undefined {
  if (buf.length < CHANNEL_DATA_HEADER) return undefined;
  const length = buf.readUInt16BE(2);
  if (CHANNEL_DATA_HEADER + length > buf.length) return undefined;
  return { channel: buf.readUInt16BE(0), data: buf.subarray(4, 4 + length) };
}
