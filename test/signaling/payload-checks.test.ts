/**
 * The server's payload checks (`server/signaling/payloadChecks.ts`) give exactly the answers of the
 * contract's zod schemas: same accept/refuse decision and the same relayed value, on a corpus of
 * real and malformed payloads and on 5 000 random ones (seeded, so a failure is reproducible).
 * Also checks that the hand-written fast path is really taken for the usual messages.
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MAX_CANDIDATE_LENGTH, MAX_SDP_LENGTH, MessageDataSchema, RoomSchema } from '../../contracts/signaling.js';
import { checkMessageData, checkRoom, fastMessageData } from '../../server/signaling/payloadChecks.js';

/** Mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Inputs where the two answers differ: refused by one only, or accepted with different values. */
function differences(inputs: Iterable<unknown>): Array<{ input: unknown; ours: unknown; zod: unknown }> {
  const out = [];
  for (const input of inputs) {
    const ours = checkMessageData(input);
    const zod = MessageDataSchema.safeParse(input);
    const same = ours.ok === zod.success && (!ours.ok || isDeepStrictEqual(ours.value, zod.data));
    if (!same) out.push({ input, ours: ours.ok ? ours.value : ours.reason, zod: zod.success ? zod.data : zod.error.message });
  }
  return out;
}

const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
const line = 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0';

const offer = { type: 'offer', sdp };
const answer = { type: 'answer', sdp };
const demoCandidate = { type: 'candidate', label: 0, id: '0', candidate: line };
const stdCandidate = { type: 'candidate', sdpMLineIndex: 0, sdpMid: '0', candidate: line, usernameFragment: 'abcd' };
const endOfCandidates = { type: 'candidate', sdpMLineIndex: 0, sdpMid: '0', candidate: '' };
const state = { type: 'state', audioMuted: true, videoOff: false, screen: false };

const corpus: unknown[] = [
  offer,
  answer,
  demoCandidate,
  stdCandidate,
  endOfCandidates,
  state,
  'bye',
  'Bye',
  '',
  null,
  undefined,
  42,
  true,
  [],
  [{ type: 'offer', sdp }],
  {},
  { type: 'answer', sdp, extra: 1 },
  { type: 'pranswer', sdp },
  { type: 'offer' },
  { type: 'offer', sdp: 12 },
  { type: 'offer', sdp: 'x'.repeat(MAX_SDP_LENGTH) },
  { type: 'offer', sdp: 'x'.repeat(MAX_SDP_LENGTH + 1) },
  { type: 'offer', sdp: undefined },
  { type: 'candidate', sdpMLineIndex: null, sdpMid: '0', candidate: line },
  { type: 'candidate', sdpMLineIndex: null, sdpMid: null, candidate: line },
  { type: 'candidate', candidate: line },
  { type: 'candidate', usernameFragment: 'u', candidate: line },
  { type: 'candidate', label: 1023, candidate: line },
  { type: 'candidate', label: 1024, candidate: line },
  { type: 'candidate', label: -1, candidate: line },
  { type: 'candidate', label: 0.5, candidate: line },
  { type: 'candidate', label: '0', candidate: line },
  { type: 'candidate', label: Number.NaN, candidate: line },
  { type: 'candidate', label: Number.POSITIVE_INFINITY, candidate: line },
  { type: 'candidate', label: -0, candidate: line },
  { type: 'candidate', id: 'x'.repeat(64), candidate: line },
  { type: 'candidate', id: 'x'.repeat(65), candidate: line },
  { type: 'candidate', sdpMid: '0', candidate: 'c'.repeat(MAX_CANDIDATE_LENGTH) },
  { type: 'candidate', sdpMid: '0', candidate: 'c'.repeat(MAX_CANDIDATE_LENGTH + 1) },
  { type: 'candidate', sdpMid: '0', candidate: line, usernameFragment: 'u'.repeat(257) },
  { type: 'candidate', sdpMid: '0', candidate: line, sdpMLineIndex: undefined },
  { type: 'candidate', sdpMid: '0', candidate: line, __proto__: { polluted: true } },
  JSON.parse(`{"type":"candidate","sdpMid":"0","candidate":"${line}","__proto__":{"x":1}}`),
  { type: 'candidate', sdpMid: '0' },
  { type: 'state', audioMuted: true, videoOff: false, screen: false, extra: 'x' },
  { type: 'state', audioMuted: 'yes', videoOff: false, screen: false },
  { type: 'state', audioMuted: true, videoOff: false },
  Object.assign(Object.create(null), { type: 'offer', sdp }),
  new (class Offer {
    type = 'offer';
    sdp = sdp;
  })(),
];

describe('payload checks equal the contract schemas', () => {
  it('on a corpus of real and malformed payloads', () => {
    expect(differences(corpus)).toEqual([]);
  });

  it('on 5 000 random payloads', () => {
    const rnd = prng(13);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const strings = ['', '0', 'abc', sdp, line, 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(256), 'x'.repeat(257), 'c'.repeat(1024), 'c'.repeat(1025)];
    const values: unknown[] = [...strings, 0, 1, -1, 0.5, 1023, 1024, 2 ** 53, Number.NaN, null, undefined, true, false, {}, [], [1]];
    const keys = ['type', 'sdp', 'candidate', 'label', 'sdpMLineIndex', 'id', 'sdpMid', 'usernameFragment', 'audioMuted', 'videoOff', 'screen', 'extra'];
    const types = ['offer', 'answer', 'candidate', 'state', 'bye', 'other', 7];
    const inputs: unknown[] = [];
    for (let i = 0; i < 5000; i++) {
      if (rnd() < 0.03) {
        inputs.push(pick(values));
        continue;
      }
      const o: Record<string, unknown> = {};
      if (rnd() < 0.95) o.type = pick(types);
      const n = Math.floor(rnd() * 6);
      for (let k = 0; k < n; k++) o[pick(keys)] = pick(values);
      // Bias towards plausible messages so that both sides of every rule are exercised.
      if (o.type === 'candidate' && rnd() < 0.7) o.candidate = pick([line, '', 'c'.repeat(1025)]);
      if ((o.type === 'offer' || o.type === 'answer') && rnd() < 0.7) o.sdp = pick([sdp, 'x'.repeat(MAX_SDP_LENGTH + 1)]);
      if (o.type === 'state' && rnd() < 0.7) Object.assign(o, { audioMuted: rnd() < 0.5, videoOff: rnd() < 0.5, screen: pick([true, false, 'no']) });
      inputs.push(o);
    }
    expect(differences(inputs)).toEqual([]);
    const accepted = inputs.filter((x) => checkMessageData(x).ok).length;
    // The generator is useful only if it produces both outcomes in numbers.
    expect(accepted).toBeGreaterThan(500);
    expect(accepted).toBeLessThan(4500);
  });

  it('takes the fast path for the usual messages and relays them without copying', () => {
    for (const data of ['bye', offer, answer, demoCandidate, stdCandidate, endOfCandidates, state]) expect(fastMessageData(data)).toBe(data);
    const withExtra = { type: 'answer', sdp, extra: 1 };
    expect(fastMessageData(withExtra)).toStrictEqual({ type: 'answer', sdp });
  });

  it('rooms: the same answers as RoomSchema', () => {
    for (const raw of ['1', '123456789012', '1234567890123', '', 'abc', '12a', ' 1', '1\n', '٣', 0, 7, 999_999_999_999, 1e12, -1, 1.5, Number.NaN, null, undefined, {}, [], ['1'], true]) {
      const zod = RoomSchema.safeParse(raw);
      expect({ raw, room: checkRoom(raw) }).toEqual({ raw, room: zod.success ? zod.data : undefined });
    }
  });
});
