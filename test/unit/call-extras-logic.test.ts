/**
 * The pure parts of the call page's features, in Node: the safety number's derivation (order-free,
 * sensitive to every fingerprint, SDP fingerprint parsing, certificate hashing), the file-transfer
 * protocol's frame parser and file-name rules, the network-quality classifier and loss measurement.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseControl, safeFileName } from '../../client/src/fileTransfer.js';
import { classify, measure, THRESHOLDS, worse, type NetCounters } from '../../client/src/netQuality.js';
import { canonical, certificateFingerprint, hexColons, safetyNumber, sdpFingerprints, type Fingerprint } from '../../client/src/safetyNumber.js';

const fp = (byte: number, algorithm = 'sha-256'): Fingerprint => ({ algorithm, value: hexColons(new Uint8Array(32).fill(byte)) });

describe('safety number', () => {
  it('is four groups of four digits, the same whichever side computes it, and changes with either fingerprint', async () => {
    const [a, b, c] = [fp(1), fp(2), fp(3)];
    const ab = await safetyNumber(a, b, 1000);
    expect(ab).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
    expect(await safetyNumber(b, a, 1000)).toBe(ab);
    expect(await safetyNumber(a, c, 1000)).not.toBe(ab);
    expect(await safetyNumber(c, b, 1000)).not.toBe(ab);
    // Case and algorithm spelling do not matter; the algorithm itself does.
    expect(await safetyNumber({ algorithm: 'SHA-256', value: a.value.toLowerCase() }, b, 1000)).toBe(ab);
    expect(await safetyNumber({ algorithm: 'sha-384', value: a.value }, b, 1000)).not.toBe(ab);
  });

  it('is stable across releases (fixed derivation: PBKDF2-HMAC-SHA-256, 100 000 iterations)', async () => {
    // Two pages of different versions must agree: a change of the derivation changes this value.
    expect(await safetyNumber(fp(0xab), fp(0xcd))).toBe(await safetyNumber(fp(0xcd), fp(0xab)));
    const text = [canonical(fp(0xab)), canonical(fp(0xcd))].sort().join('\n');
    const { pbkdf2Sync } = await import('node:crypto');
    const bits = pbkdf2Sync(text, 'webrtc-call safety number v1', 100_000, 16, 'sha256');
    const expected = [0, 4, 8, 12].map((i) => String(bits.readUInt32BE(i) % 10_000).padStart(4, '0')).join(' ');
    expect(await safetyNumber(fp(0xab), fp(0xcd))).toBe(expected);
  });

  it('reads every a=fingerprint of an SDP once, best algorithm first, skipping malformed lines', () => {
    const v = hexColons(new Uint8Array(32).fill(0xef));
    const sdp = [
      'v=0',
      `a=fingerprint:sha-1 ${hexColons(new Uint8Array(20).fill(1))}`,
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      `a=fingerprint:SHA-256 ${v.toLowerCase()}`,
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      `a=fingerprint:sha-256 ${v}`,
      'a=fingerprint:sha-256 not-hex',
      '',
    ].join('\r\n');
    const fps = sdpFingerprints(sdp);
    expect(fps.map((f) => f.algorithm)).toEqual(['sha-256', 'sha-1']);
    expect(fps[0]!.value).toBe(v);
  });

  it('hashes a DER certificate the way RFC 8122 fingerprints are written', async () => {
    const der = new Uint8Array([0x30, 0x82, 0x01, 0x0a, 1, 2, 3, 4, 5]);
    const expected = createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
    expect(await certificateFingerprint(der.buffer, 'sha-256')).toEqual({ algorithm: 'sha-256', value: expected });
    await expect(certificateFingerprint(der.buffer, 'md5')).rejects.toThrow(/unsupported/);
  });
});

describe('file-transfer frames', () => {
  it('accepts exactly the protocol frames', () => {
    expect(parseControl('{"t":"offer","name":"a.txt","size":10,"mime":"text/plain"}')).toEqual({ t: 'offer', name: 'a.txt', size: 10, mime: 'text/plain' });
    expect(parseControl('{"t":"accept"}')).toEqual({ t: 'accept' });
    expect(parseControl('{"t":"decline","extra":1}')).toEqual({ t: 'decline' });
    expect(parseControl(`{"t":"end","sha256":"${'a'.repeat(64)}"}`)).toEqual({ t: 'end', sha256: 'a'.repeat(64) });
    expect(parseControl('{"t":"result","ok":false}')).toEqual({ t: 'result', ok: false });
    expect(parseControl('{"t":"cancel"}')).toEqual({ t: 'cancel' });
  });

  it('drops anything else: bad JSON, unknown frames, wrong types, impossible sizes, huge frames', () => {
    for (const bad of [
      'not json',
      'null',
      '[]',
      '{"t":"hello"}',
      '{"t":"offer","name":"a","size":-1,"mime":"x/y"}',
      '{"t":"offer","name":"a","size":1.5,"mime":"x/y"}',
      '{"t":"offer","name":"a","size":1e300,"mime":"x/y"}',
      '{"t":"offer","name":7,"size":1,"mime":"x/y"}',
      '{"t":"end","sha256":"XYZ"}',
      '{"t":"result","ok":"yes"}',
      JSON.stringify({ t: 'offer', name: 'a'.repeat(5000), size: 1, mime: 'x/y' }),
    ]) {
      expect(parseControl(bad), bad.slice(0, 60)).toBeNull();
    }
    // A strange MIME type is replaced, not trusted.
    expect(parseControl('{"t":"offer","name":"a","size":1,"mime":"text/html; evil"}')).toMatchObject({ mime: 'application/octet-stream' });
  });

  it('offers only a plain file name for download', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('C:\\Users\\me\\photo.jpg')).toBe('photo.jpg');
    expect(safeFileName('a\u0000b\nc.txt')).toBe('abc.txt');
    expect(safeFileName('..')).toBe('file');
    expect(safeFileName('   ')).toBe('file');
    expect(safeFileName('x'.repeat(400))).toHaveLength(255);
    expect(safeFileName('报告 2026.pdf')).toBe('报告 2026.pdf');
  });
});

describe('network quality', () => {
  it('classifies by loss, round trip and available bitrate (thresholds as documented)', () => {
    const ok = { lossPct: 0, rttMs: 20, availableKbps: 2000 };
    expect(classify(ok)).toBe('good');
    expect(classify({ lossPct: null, rttMs: null, availableKbps: null })).toBe('good');
    expect(classify({ ...ok, lossPct: THRESHOLDS.good.maxLossPct })).toBe('fair');
    expect(classify({ ...ok, rttMs: 320 })).toBe('fair');
    expect(classify({ ...ok, availableKbps: 100 })).toBe('fair');
    expect(classify({ ...ok, lossPct: 5, rttMs: 320 })).toBe('fair');
    expect(classify({ ...ok, lossPct: THRESHOLDS.fair.maxLossPct })).toBe('poor');
    expect(classify({ ...ok, rttMs: 600 })).toBe('poor');
    expect(classify({ ...ok, availableKbps: 30 })).toBe('poor');
  });

  it('measures loss between two samples, and takes the worse of both directions', () => {
    const c = (lost: number, received: number, remote: number | null = null): NetCounters => ({ lost, received, remoteFractionLost: remote, rttMs: 10, availableKbps: null });
    expect(measure(undefined, c(5, 95)).lossPct).toBeNull();
    expect(measure(c(10, 1000), c(15, 1095)).lossPct).toBeCloseTo(5);
    expect(measure(c(10, 1000), c(10, 1100, 0.1)).lossPct).toBeCloseTo(10);
    expect(measure(c(10, 1000), c(10, 1000)).lossPct).toBeNull();
  });

  it('the worse of two levels ignores an unknown one', () => {
    expect(worse('good', 'fair')).toBe('fair');
    expect(worse('poor', 'fair')).toBe('poor');
    expect(worse(null, 'fair')).toBe('fair');
    expect(worse('good', null)).toBe('good');
    expect(worse(null, null)).toBeNull();
  });
});
