/** STUN/TURN codec: RFC 5769 test vectors, round trips, malformed input. */
import { describe, expect, it } from 'vitest';
import {
  Attr,
  AttributeType,
  StunClass,
  StunDecodeError,
  StunMethod,
  bytesToIp,
  decodeChannelData,
  decodeErrorCode,
  decodeMessage,
  decodeMessageType,
  decodeUnknownAttributes,
  decodeXorAddress,
  encodeChannelData,
  encodeMessage,
  encodeMessageType,
  encodeXorAddress,
  ipToBytes,
  longTermKey,
} from '../../turn/stun/index.js';
import { FramingError, StreamFramer } from '../../turn/stun/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const TID = hex('b7e7a701bc34d686fa87dfae');
const SHORT_TERM_PASSWORD = Buffer.from('VOkJxbRl1RmTxUk/WvJxBt');

// RFC 5769 §2.1 Sample Request (USERNAME padded with spaces, as in the RFC).
const SAMPLE_REQUEST = hex(`
  00010058 2112a442 b7e7a701 bc34d686 fa87dfae
  80220010 5354554e 20746573 7420636c 69656e74
  00240004 6e0001ff
  80290008 932ff9b1 51263b36
  00060009 6576746a 3a683676 59202020
  00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  80280004 e57a3bcf`);
// RFC 5769 §2.2 Sample IPv4 Response.
const SAMPLE_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);
// RFC 5769 §2.3 Sample IPv6 Response.
const SAMPLE_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);
// RFC 5769 §2.4 Sample Request with Long-Term Authentication.
const LONG_TERM_TID = hex('78ad3433c6ad72c029da412e');
const SAMPLE_LONG_TERM = hex(`
  00010060 2112a442 78ad3433 c6ad72c0 29da412e
  00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000
  0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341
  0014000b 6578616d 706c652e 6f726700
  00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666`);

describe('RFC 5769 test vectors', () => {
  it('§2.1 sample request: attributes, short-term MESSAGE-INTEGRITY, FINGERPRINT', () => {
    const m = decodeMessage(SAMPLE_REQUEST);
    expect(m.method).toBe(StunMethod.Binding);
    expect(m.cls).toBe(StunClass.Request);
    expect(m.transactionId).toEqual(TID);
    expect(m.getString(AttributeType.SOFTWARE)).toBe('STUN test client');
    expect(m.getString(AttributeType.USERNAME)).toBe('evtj:h6vY');
    expect(m.getUint32(AttributeType.PRIORITY)).toBe(0x6e0001ff);
    expect(m.verifyIntegrity(SHORT_TERM_PASSWORD)).toBe('sha1');
    expect(m.verifyIntegrity(Buffer.from('wrong'))).toBe(false);
  });

  it('§2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853', () => {
    const m = decodeMessage(SAMPLE_IPV4_RESPONSE);
    expect(m.cls).toBe(StunClass.SuccessResponse);
    expect(m.getString(AttributeType.SOFTWARE)).toBe('test vector');
    expect(m.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS)).toEqual({ family: 4, address: '192.0.2.1', port: 32853 });
    expect(m.verifyIntegrity(SHORT_TERM_PASSWORD)).toBe('sha1');
    expect(encodeXorAddress({ family: 4, address: '192.0.2.1', port: 32853 }, TID)).toEqual(hex('0001a147e112a643'));
  });

  it('§2.3 sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
    const m = decodeMessage(SAMPLE_IPV6_RESPONSE);
    expect(m.getXorAddress(AttributeType.XOR_MAPPED_ADDRESS)).toEqual({ family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
    expect(m.verifyIntegrity(SHORT_TERM_PASSWORD)).toBe('sha1');
    expect(encodeXorAddress({ family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, TID)).toEqual(hex('0002a1470113a9faa5d3f179bc25f4b5bed2b9d9'));
  });

  it('§2.4 long-term credentials: decodes, verifies with MD5(user:realm:pass), and our encoder reproduces it byte for byte', () => {
    const username = '\u30de\u30c8\u30ea\u30c3\u30af\u30b9';
    const key = longTermKey(username, 'example.org', 'TheMatrIX');
    const m = decodeMessage(SAMPLE_LONG_TERM);
    expect(m.getString(AttributeType.USERNAME)).toBe(username);
    expect(m.getString(AttributeType.NONCE)).toBe('f//499k954d6OL34oL9FSTvy64sA');
    expect(m.getString(AttributeType.REALM)).toBe('example.org');
    expect(m.verifyIntegrity(key)).toBe('sha1');
    const encoded = encodeMessage(
      {
        method: StunMethod.Binding,
        cls: StunClass.Request,
        transactionId: LONG_TERM_TID,
        attributes: [Attr.username(username), Attr.nonce('f//499k954d6OL34oL9FSTvy64sA'), Attr.realm('example.org')],
      },
      { integrityKey: key },
    );
    expect(encoded.toString('hex')).toBe(SAMPLE_LONG_TERM.toString('hex'));
  });

  it('a flipped bit breaks FINGERPRINT; a flipped bit before MESSAGE-INTEGRITY breaks integrity', () => {
    const a = Buffer.from(SAMPLE_REQUEST);
    a[30] ^= 1;
    expect(() => decodeMessage(a)).toThrow(expect.objectContaining({ reason: 'bad_fingerprint' }));
    const b = Buffer.from(SAMPLE_LONG_TERM);
    b[30] ^= 1;
    expect(decodeMessage(b).verifyIntegrity(longTermKey('\u30de\u30c8\u30ea\u30c3\u30af\u30b9', 'example.org', 'TheMatrIX'))).toBe(false);
  });
});

describe('message codec', () => {
  it('message type packs method and class (RFC 8489 §5)', () => {
    expect(encodeMessageType(StunMethod.Binding, StunClass.Request)).toBe(0x0001);
    expect(encodeMessageType(StunMethod.Binding, StunClass.SuccessResponse)).toBe(0x0101);
    expect(encodeMessageType(StunMethod.Binding, StunClass.ErrorResponse)).toBe(0x0111);
    expect(encodeMessageType(StunMethod.Allocate, StunClass.Request)).toBe(0x0003);
    expect(encodeMessageType(StunMethod.Send, StunClass.Indication)).toBe(0x0016);
    expect(encodeMessageType(StunMethod.Data, StunClass.Indication)).toBe(0x0017);
    expect(encodeMessageType(StunMethod.ChannelBind, StunClass.ErrorResponse)).toBe(0x0119);
    for (let method = 0; method < 0x1000; method += 0x0ab) for (let cls = 0; cls < 4; cls++) expect(decodeMessageType(encodeMessageType(method, cls))).toEqual({ method, cls });
  });

  it('round-trips every attribute builder, with MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT', () => {
    const key = longTermKey('u', 'r', 'p');
    for (const sha256 of [false, true]) {
      const tid = Buffer.alloc(12, 7);
      const attrs = [
        Attr.username('u'),
        Attr.realm('r'),
        Attr.nonce('n-123'),
        Attr.lifetime(777),
        Attr.channelNumber(0x4abc),
        Attr.requestedTransport(),
        Attr.requestedAddressFamily(6),
        Attr.evenPort(true),
        Attr.dontFragment(),
        Attr.data(Buffer.from('payload!!')),
        Attr.errorCode(438, 'Stale Nonce'),
        Attr.unknownAttributes([0x0042, 0x7abc]),
        Attr.xorPeerAddress({ family: 4, address: '203.0.113.9', port: 65535 }, tid),
        Attr.xorRelayedAddress({ family: 6, address: '2001:db8::1', port: 1 }, tid),
        Attr.mappedAddress({ family: 4, address: '198.51.100.1', port: 80 }),
        Attr.software('x'),
      ];
      const buf = encodeMessage({ method: StunMethod.Allocate, cls: StunClass.ErrorResponse, transactionId: tid, attributes: attrs }, { integrityKey: key, integritySha256: sha256, fingerprint: true });
      expect(buf.length % 4).toBe(0);
      const m = decodeMessage(buf);
      expect(m.verifyIntegrity(key)).toBe(sha256 ? 'sha256' : 'sha1');
      expect(m.getString(AttributeType.NONCE)).toBe('n-123');
      expect(m.getUint32(AttributeType.LIFETIME)).toBe(777);
      expect(m.get(AttributeType.CHANNEL_NUMBER)!.readUInt16BE(0)).toBe(0x4abc);
      expect(m.get(AttributeType.DATA)!.toString()).toBe('payload!!');
      expect(m.getErrorCode()).toEqual({ code: 438, reason: 'Stale Nonce' });
      expect(decodeUnknownAttributes(m.get(AttributeType.UNKNOWN_ATTRIBUTES)!)).toEqual([0x0042, 0x7abc]);
      expect(m.getXorAddress(AttributeType.XOR_PEER_ADDRESS)).toEqual({ family: 4, address: '203.0.113.9', port: 65535 });
      expect(m.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS)).toEqual({ family: 6, address: '2001:db8::1', port: 1 });
      expect(m.getAddress(AttributeType.MAPPED_ADDRESS)).toEqual({ family: 4, address: '198.51.100.1', port: 80 });
      expect(m.attributes.at(-1)!.type).toBe(AttributeType.FINGERPRINT);
    }
  });

  it('ignores attributes after MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT', () => {
    const key = Buffer.from('k');
    const buf = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, attributes: [Attr.username('a')] }, { integrityKey: key });
    // Append a USERNAME after MESSAGE-INTEGRITY by hand.
    const extra = Buffer.from([0x00, 0x06, 0x00, 0x01, 0x62, 0, 0, 0]);
    const tampered = Buffer.concat([buf, extra]);
    tampered.writeUInt16BE(tampered.length - 20, 2);
    const m = decodeMessage(tampered);
    expect(m.getAll(AttributeType.USERNAME).map((v) => v.toString())).toEqual(['a']);
    expect(m.verifyIntegrity(key)).toBe('sha1');
  });

  it('refuses malformed messages with a reason', () => {
    const ok = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, attributes: [Attr.software('abc')] });
    const cases: Array<[Buffer, string]> = [
      [Buffer.alloc(0), 'short'],
      [ok.subarray(0, 19), 'short'],
      [Buffer.concat([Buffer.from([0xc0]), ok.subarray(1)]), 'not_stun'],
      [Buffer.concat([ok.subarray(0, 4), Buffer.from([1, 2, 3, 4]), ok.subarray(8)]), 'bad_cookie'],
      [ok.subarray(0, ok.length - 4), 'bad_length'],
      [Buffer.concat([ok, Buffer.alloc(4)]), 'bad_length'],
    ];
    const badLen = Buffer.from(ok);
    badLen.writeUInt16BE(ok.length - 20 + 2, 2);
    cases.push([Buffer.concat([badLen, Buffer.alloc(2)]), 'bad_length']);
    const trunc = Buffer.from(ok);
    trunc.writeUInt16BE(200, 22); // attribute length runs past the end
    cases.push([trunc, 'truncated_attribute']);
    for (const [buf, reason] of cases) {
      let err: unknown;
      try {
        decodeMessage(buf);
      } catch (e) {
        err = e;
      }
      expect(err, reason).toBeInstanceOf(StunDecodeError);
      expect((err as StunDecodeError).reason).toBe(reason);
    }
  });

  it('random bytes only ever raise StunDecodeError (or decode)', () => {
    for (let i = 0; i < 20_000; i++) {
      const len = 20 + 4 * Math.floor(Math.random() * 12);
      const b = Buffer.alloc(len);
      for (let k = 0; k < len; k++) b[k] = Math.floor(Math.random() * 256);
      b[0]! &= 0x3f;
      b.writeUInt32BE(0x2112a442, 4);
      b.writeUInt16BE(len - 20, 2);
      try {
        const m = decodeMessage(b);
        for (const a of m.attributes) {
          try {
            if (a.type === AttributeType.XOR_PEER_ADDRESS) decodeXorAddress(a.value, m.transactionId);
            if (a.type === AttributeType.ERROR_CODE) decodeErrorCode(a.value);
          } catch (e) {
            expect((e as Error).name).toBe('AttributeError');
          }
        }
      } catch (e) {
        expect(e).toBeInstanceOf(StunDecodeError);
      }
    }
  });
});

describe('addresses', () => {
  it('IPv4/IPv6 text <-> bytes', () => {
    for (const ip of ['0.0.0.0', '255.255.255.255', '192.0.2.1', '::', '::1', '2001:db8::1', 'fe80::1:2', '2001:db8:1234:5678:11:2233:4455:6677', '1::', '1:0:0:2::3']) {
      expect(bytesToIp(ipToBytes(ip)), ip).toBe(ip);
    }
    expect(ipToBytes('::ffff:1.2.3.4')).toEqual(hex('00000000000000000000ffff01020304'));
    expect(() => ipToBytes('example.org')).toThrow(TypeError);
  });
});

describe('ChannelData', () => {
  it('encodes with and without padding; decodes in place', () => {
    const udp = encodeChannelData(0x4001, Buffer.from('abcde'));
    expect(udp).toEqual(hex('4001000561626364 65'));
    const tcp = encodeChannelData(0x4001, Buffer.from('abcde'), true);
    expect(tcp.length).toBe(12);
    expect(decodeChannelData(tcp)).toEqual({ channel: 0x4001, data: Buffer.from('abcde') });
    expect(decodeChannelData(hex('40010009 6162'))).toBeUndefined();
    expect(decodeChannelData(hex('4001'))).toBeUndefined();
    expect(() => encodeChannelData(0x3fff, Buffer.alloc(1))).toThrow(RangeError);
  });
});

describe('stream framer', () => {
  const stun = () => encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request, attributes: [Attr.software('hello')] });
  it('splits coalesced messages and reassembles partial ones, one byte at a time', () => {
    const msgs = [stun(), encodeChannelData(0x4000, Buffer.from('xyz'), true), stun(), encodeChannelData(0x4fff, Buffer.alloc(0), true)];
    const all = Buffer.concat(msgs);
    for (const step of [1, 3, 7, all.length]) {
      const f = new StreamFramer();
      const out: Buffer[] = [];
      for (let i = 0; i < all.length; i += step) f.push(all.subarray(i, i + step), (fr) => out.push(Buffer.from(fr)));
      expect(out, `step ${step}`).toEqual(msgs);
      expect(f.buffered).toBe(0);
    }
  });
  it('throws FramingError on garbage', () => {
    expect(() => new StreamFramer().push(Buffer.from([0x80, 0, 0, 0]), () => {})).toThrow(FramingError);
    const bad = stun();
    bad.writeUInt32BE(1, 4);
    expect(() => new StreamFramer().push(bad, () => {})).toThrow(/cookie/);
    expect(() => new StreamFramer().push(Buffer.from([0x00, 0x01, 0x00, 0x03, 0x21, 0x12, 0xa4, 0x42]), () => {})).toThrow(/multiple of 4/);
  });
});
