/**
 * Checks of the signaling payloads the server receives, against the zod schemas of
 * `contracts/signaling.ts` (the only place the rules are written).
 *
 * `message` is the hot path (every offer, answer and ICE candidate), so it first tries a
 * hand-written check that accepts only what the schema accepts and returns what the schema would
 * return (unknown fields dropped; `test/signaling/payload-checks.test.ts` compares both on a corpus
 * and on random inputs). Anything the fast check does not accept goes through the schema itself,
 * which decides and words the reason; so a fast check that is too strict costs time, never a
 * wrong answer. The fast path allocates nothing when the payload carries no unknown fields (the
 * parsed object is relayed as it is).
 */
import type { z } from 'zod';
import {
  ByeSchema,
  CandidateSchema,
  DescriptionSchema,
  JoinOptionsSchema,
  MESSAGE_SCHEMAS,
  messageSchemaFor,
  ROOM_PATTERN,
  RoomSchema,
  type JoinOptions,
  type MessageData,
} from '../../contracts/signaling.js';

/** Outcome of a check: the value to use, or why the input was refused. */
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** The room rule in words, as the contract words it (the message of its refinement). */
const ROOM_RULE = ((): string => {
  const r = RoomSchema.safeParse('');
  return r.success ? 'invalid room' : r.error.issues[0]!.message;
})();

/** `null`, `array`, or the `typeof` of `v`: for reasons. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Zod issues as one line: `path: message; ...`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

/**
 * The room of an event (as {@link RoomSchema} reads it: digits; a non-negative integer is normalized to
 * its digits), or undefined when invalid (see {@link roomRefusal}).
 */
export function checkRoom(raw: unknown): string | undefined {
  // Strings are what clients send: the schema's string branch is exactly this test.
  if (typeof raw === 'string') return ROOM_PATTERN.test(raw) ? raw : undefined;
  const r = RoomSchema.safeParse(raw);
  return r.success ? r.data : undefined;
}

/** Why {@link checkRoom} refused `raw`. */
export function roomRefusal(raw: unknown): string {
  return `${ROOM_RULE}, got ${raw === undefined ? 'nothing' : describe(raw)}`;
}

/** The optional second argument of `join` ({@link JoinOptionsSchema}). */
export function checkJoinOptions(raw: unknown): Checked<JoinOptions | undefined> {
  if (raw === undefined || raw === null) return { ok: true, value: undefined };
  const r = JoinOptionsSchema.safeParse(raw);
  return r.success ? { ok: true, value: r.data } : { ok: false, reason: `options: ${formatIssues(r.error)}` };
}

const isInt = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const isStr = (v: unknown, max: number): boolean => typeof v === 'string' && v.length <= max;

/** Largest length a string schema allows (its `.max()`); throws at start-up if the contract drops it. */
function maxLength(schema: { maxLength: number | null }): number {
  if (schema.maxLength === null) throw new Error('signaling contract: a string field lost its length limit; update payloadChecks.ts');
  return schema.maxLength;
}

/** Range an integer schema allows (its `.min()`/`.max()`). */
function intRange(schema: { minValue: number | null; maxValue: number | null; isInt: boolean | null }): [number, number] {
  if (schema.minValue === null || schema.maxValue === null || !schema.isInt) throw new Error('signaling contract: an integer field changed; update payloadChecks.ts');
  return [schema.minValue, schema.maxValue];
}

// Limits read from the schemas, so each is written once (in the contract).
const SDP_MAX = maxLength(DescriptionSchema.shape.sdp);
const C = CandidateSchema.shape;
const CANDIDATE_MAX = maxLength(C.candidate);
const LABEL = intRange(C.label.unwrap().unwrap());
const M_LINE = intRange(C.sdpMLineIndex.unwrap().unwrap());
const ID_MAX = maxLength(C.id.unwrap().unwrap());
const MID_MAX = maxLength(C.sdpMid.unwrap().unwrap());
const UFRAG_MAX = maxLength(C.usernameFragment.unwrap().unwrap());

/**
 * Fields of a candidate besides `type` and `candidate` (each `.nullable().optional()` in
 * {@link CandidateSchema}), with their check, and whether a value names the m-line (the schema's
 * refine: a candidate needs `label`/`sdpMLineIndex` or `id`/`sdpMid`).
 */
const CANDIDATE_OPTIONAL: ReadonlyArray<readonly [string, (v: unknown) => boolean, boolean]> = [
  ['label', (v) => isInt(v, LABEL[0], LABEL[1]), true],
  ['sdpMLineIndex', (v) => isInt(v, M_LINE[0], M_LINE[1]), true],
  ['id', (v) => isStr(v, ID_MAX), true],
  ['sdpMid', (v) => isStr(v, MID_MAX), true],
  ['usernameFragment', (v) => isStr(v, UFRAG_MAX), false],
];
const DESCRIPTION_KEYS = new Set(['type', 'sdp']);
const CANDIDATE_KEYS = new Set(['type', 'candidate', ...CANDIDATE_OPTIONAL.map(([k]) => k)]);
const STATE_KEYS = new Set(['type', 'audioMuted', 'videoOff', 'screen']);

/** True when every own enumerable key of `o` is in `keys`. */
function onlyKeys(o: object, keys: ReadonlySet<string>): boolean {
  for (const k in o) if (!keys.has(k)) return false;
  return true;
}

/** `o` reduced to `keys` (the ones it has), in a new plain object. */
function pick(o: Record<string, unknown>, keys: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (Object.hasOwn(o, k)) out[k] = o[k];
  return out;
}

/**
 * The hand-written check: the relayable value when `data` is surely valid, else undefined (then
 * the schema decides). Accepts only plain objects whose known fields are present with a value
 * (an own field set to `undefined` goes to the schema).
 */
export function fastMessageData(data: unknown): MessageData | undefined {
  if (data === 'bye') return data;
  if (typeof data !== 'object' || data === null || Object.getPrototypeOf(data) !== Object.prototype) return undefined;
  const d = data as Record<string, unknown>;
  const type = d.type;
  let keys: ReadonlySet<string>;
  if (type === 'offer' || type === 'answer') {
    if (!isStr(d.sdp, SDP_MAX)) return undefined;
    keys = DESCRIPTION_KEYS;
  } else if (type === 'candidate') {
    if (!isStr(d.candidate, CANDIDATE_MAX)) return undefined;
    let hasLine = false;
    for (const [k, check, namesLine] of CANDIDATE_OPTIONAL) {
      const v = d[k];
      if (v === undefined) {
        if (Object.hasOwn(d, k)) return undefined;
      } else if (v !== null) {
        if (!check(v)) return undefined;
        hasLine ||= namesLine;
      }
    }
    // The schema's refine: an m-line index or a mid.
    if (!hasLine) return undefined;
    keys = CANDIDATE_KEYS;
  } else if (type === 'state') {
    if (typeof d.audioMuted !== 'boolean' || typeof d.videoOff !== 'boolean' || typeof d.screen !== 'boolean') return undefined;
    keys = STATE_KEYS;
  } else {
    return undefined;
  }
  return (onlyKeys(d, keys) ? d : pick(d, keys)) as MessageData;
}

/**
 * Check a `message` payload (offer/answer, ICE candidate, media state, a call feature's message or `'bye'`) and return the
 * value to relay (unknown fields dropped), or why it is refused. The schema is picked by `type`
 * so the reason is precise.
 */
export function checkMessageData(data: unknown): Checked<MessageData> {
  const fast = fastMessageData(data);
  if (fast !== undefined) return { ok: true, value: fast };
  if (data === 'bye') return { ok: true, value: ByeSchema.parse(data) };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, reason: `data must be an object (${Object.keys(MESSAGE_SCHEMAS).join(', ')}) or "bye", got ${describe(data)}` };
  }
  const schema = messageSchemaFor((data as { type?: unknown }).type);
  if (!schema) return { ok: false, reason: `data.type must be one of ${Object.keys(MESSAGE_SCHEMAS).map((k) => `"${k}"`).join(', ')}` };
  const r = schema.safeParse(data);
  return r.success ? { ok: true, value: r.data as MessageData } : { ok: false, reason: formatIssues(r.error) };
}
