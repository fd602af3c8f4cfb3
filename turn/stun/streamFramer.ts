/**
 * Framing of TURN over TCP and TLS (RFC 8656 §3.1, RFC 8489 §6.2.2): one byte stream carries STUN
 * messages and ChannelData messages (each ChannelData padded to 4 bytes, RFC 8656 §12.5). Used by
 * the relay's connections and by the client library. Handles partial reads, several messages per
 * read and one byte at a time; anything else (first bits 10/11, a STUN header without the magic
 * cookie, a STUN length not a multiple of 4) is garbage.
 */
import { MAGIC_COOKIE } from './attributes.js';

/** Thrown by {@link StreamFramer.push} on bytes that are neither STUN nor ChannelData. */
export class FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FramingError';
  }
}

/** Splits a byte stream into STUN and ChannelData messages. Holds at most one partial message (< 64 KiB + 20 bytes). */
export class StreamFramer {
  private pending: Buffer | undefined;

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  /**
   * Feed bytes; `onFrame` gets each complete message (STUN: header + attributes; ChannelData:
   * header + data + padding) as a view valid during the call.
   * @throws FramingError on garbage (the caller closes the connection).
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let off = 0;
    while (buf.length - off >= 4) {
      const first = buf[off]!;
      let total: number;
      if ((first & 0xc0) === 0) {
        const len = buf.readUInt16BE(off + 2);
        if (len % 4 !== 0) throw new FramingError(`STUN length ${len} not a multiple of 4`);
        if (buf.length - off >= 8 && buf.readUInt32BE(off + 4) !== MAGIC_COOKIE) throw new FramingError('bad magic cookie');
        total = 20 + len;
      } else if ((first & 0xc0) === 0x40) {
        const len = buf.readUInt16BE(off + 2);
        total = 4 + len + ((4 - (len % 4)) % 4);
      } else {
        throw new FramingError(`unexpected first byte 0x${first.toString(16)}`);
      }
      if (buf.length - off < total) break;
      onFrame(buf.subarray(off, off + total));
      off += total;
    }
    if (off < buf.length) {
      // Copy the remainder so a large chunk is not kept alive by a few bytes.
      this.pending = Buffer.from(buf.subarray(off));
    }
    buf = Buffer.alloc(0);
  }
}
