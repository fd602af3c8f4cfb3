/**
 * Pure parts of the call page: the microphone meter's scale, random room numbers and room links,
 * and the sentence for each server refusal code.
 */
import { describe, expect, it } from 'vitest';
import type { SignalingError } from '../../contracts/signaling.js';
import { ROOM_PATTERN } from '../../contracts/signaling.js';
import { refusalText } from '../../client/src/call.js';
import { render } from '../../client/src/i18n/index.js';
import { FLOOR_DB, levelOf } from '../../client/src/micLevel.js';
import { RANDOM_ROOM_DIGITS, passcodeFromHash, randomRoom, roomLink, withPasscode } from '../../client/src/shareLink.js';

describe('microphone level', () => {
  const sine = (amplitude: number, n = 1024) => Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * i) / 32));

  it('maps the RMS level from the floor (0) to full scale (1) in dB', () => {
    expect(levelOf([])).toBe(0);
    expect(levelOf(new Array(1024).fill(0))).toBe(0);
    // Full-scale square wave: RMS 1 = 0 dBFS.
    expect(levelOf(Array.from({ length: 1024 }, (_, i) => (i % 2 ? 1 : -1)))).toBeCloseTo(1, 6);
    // A sine of amplitude 0.1: RMS 0.0707 = -23 dBFS → (60 - 23) / 60.
    expect(levelOf(sine(0.1))).toBeCloseTo((-FLOOR_DB + 20 * Math.log10(0.1 / Math.SQRT2)) / -FLOOR_DB, 3);
    // Below the floor: 0; louder is more.
    expect(levelOf(sine(0.0005))).toBe(0);
    expect(levelOf(sine(0.5))).toBeGreaterThan(levelOf(sine(0.05)));
  });
});

describe('room links', () => {
  it('makes random room numbers of the right length that are valid rooms', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const room = randomRoom();
      expect(room).toMatch(new RegExp(`^[1-9]\\d{${RANDOM_ROOM_DIGITS - 1}}$`));
      expect(ROOM_PATTERN.test(room)).toBe(true);
      seen.add(room);
    }
    expect(seen.size).toBe(200);
    // Every digit is used: the source of randomness decides them.
    expect(randomRoom((a) => a.fill(0))).toBe('1'.padEnd(RANDOM_ROOM_DIGITS, '0'));
    expect(randomRoom((a) => a.fill(4_000_000_009))).toBe(`${1 + (4_000_000_009 % 9)}`.padEnd(RANDOM_ROOM_DIGITS, '9'));
  });

  it('links to the room on this origin only', () => {
    expect(roomLink('https://call.example.com', '1234')).toBe('https://call.example.com/?room=1234');
    expect(roomLink('https://127.0.0.1:8443', '000123')).toBe('https://127.0.0.1:8443/?room=000123');
    expect(() => roomLink('https://call.example.com', '12a')).toThrow(/not a room number/);
    expect(() => roomLink('https://call.example.com', '')).toThrow();
  });

  it('carries the passcode in the fragment (#pass=), percent-encoded, and reads it back', () => {
    expect(roomLink('https://call.example.com', '1234', 'XYZ')).toBe('https://call.example.com/?room=1234#pass=XYZ');
    expect(roomLink('https://call.example.com', '1234', '')).toBe('https://call.example.com/?room=1234');
    const odd = 'a b&c=d#e+f/电';
    const link = roomLink('https://call.example.com', '1234', odd);
    expect(new URL(link).search).toBe('?room=1234');
    expect(passcodeFromHash(new URL(link).hash)).toBe(odd);
    expect(passcodeFromHash('')).toBe('');
    expect(passcodeFromHash('#x=1&pass=abc')).toBe('abc');
    expect(passcodeFromHash('#pass=%E0%A4%A')).toBe('');
    expect(withPasscode('#x=1&pass=old', 'new')).toBe('pass=new&x=1');
    expect(withPasscode('#pass=old', '')).toBe('');
  });
});

describe('server refusals', () => {
  it('has a sentence for every code, by code, not by the server\'s words', () => {
    const codes: SignalingError['code'][] = ['invalid-room', 'invalid-payload', 'not-a-member', 'already-joined', 'rate-limited', 'wrong-passcode', 'server-shutdown'];
    const texts = codes.map((c) => render(refusalText(c)));
    expect(new Set(texts).size).toBe(codes.length);
    expect(texts[0]).toMatch(/room number/);
    expect(render(refusalText('rate-limited'))).toMatch(/too many requests/i);
  });
});
