/**
 * The signaling protocol, in one file, shared by the server (`server/signaling/`) and the
 * browser client (`client/src/`).
 *
 * Wire compatibility: the event names and argument order are those of the original WebRTC
 * course demo (`join` / `joined` / `otherjoin` / `full` / `leaved` / `bye` / `message`), so an
 * unmodified client of that demo still works. Extensions are optional trailing arguments
 * (`JoinOptions`, `JoinedInfo`) and extra events that old clients simply never listen to.
 *
 * Flow for a 1-to-1 call in room R:
 *   A: join(R)            → A: joined(R, A.id)
 *   B: join(R)            → B: joined(R, B.id), A: otherjoin(R, B.id)
 *   A (already there) makes the offer:  A: message(R, offer) → B: message(R, offer)
 *   B: message(R, answer) → A;  both trickle message(R, candidate) to each other
 *   C: join(R)            → C: full(R, C.id)
 *   With a passcode: A: join(R, {passcode:'xyz'}) opens R with it; a joiner with another
 *   passcode or none → error({event:'join', code:'wrong-passcode'}) (never `full`), nothing changes.
 *   B: leave(R) or B disconnects → B: leaved(R, B.id) (on leave only), A: bye(R, B.id)
 *   TURN credentials: `joined` carries them (`info.ice`); a member renews them with
 *   `ice-servers(R, ack)` (acknowledged; refused with `not-a-member` to anyone not seated in R)
 *
 * Every payload is validated with the schemas below; invalid input is refused with an
 * `error` event (and the acknowledgement, when the client passed one) and changes nothing.
 */
import { z } from 'zod';

/** A room is a number: 1–12 decimal digits, carried as a string (numbers are accepted and normalized). */
export const ROOM_PATTERN = /^\d{1,12}$/;

/** Largest SDP accepted in an offer/answer, in bytes (UTF-16 code units; SDP is ASCII). Real SDPs are 2–20 KB. */
export const MAX_SDP_LENGTH = 64 * 1024;

/** Largest ICE candidate line accepted, in characters (RFC 8839 candidates are < 300). */
export const MAX_CANDIDATE_LENGTH = 1024;

/** Largest Socket.IO frame the server accepts, in bytes (configures `maxHttpBufferSize`). */
export const MAX_MESSAGE_BYTES = 128 * 1024;

/** Room identifier: string of 1–12 digits, or a non-negative safe integer that is normalized to its digits. */
export const RoomSchema = z
  .union([z.string(), z.number().int().nonnegative().max(999_999_999_999)])
  .transform((v) => String(v))
  .refine((v) => ROOM_PATTERN.test(v), { message: 'room must be a number of 1 to 12 digits' });

export type Room = string;

/** An SDP offer or answer, as produced by `RTCPeerConnection.createOffer/createAnswer`. */
export const DescriptionSchema = z.object({
  type: z.enum(['offer', 'answer']),
  sdp: z.string().max(MAX_SDP_LENGTH, `sdp longer than ${MAX_SDP_LENGTH} characters`),
});

/**
 * A trickled ICE candidate. Two spellings are accepted: the original demo's
 * `{type:'candidate', label, id, candidate}` and the standard `RTCIceCandidateInit` field names
 * `{type:'candidate', sdpMLineIndex, sdpMid, candidate}`. An empty `candidate` string is the
 * end-of-candidates marker.
 */
export const CandidateSchema = z
  .object({
    type: z.literal('candidate'),
    candidate: z.string().max(MAX_CANDIDATE_LENGTH, `candidate longer than ${MAX_CANDIDATE_LENGTH} characters`),
    label: z.number().int().min(0).max(1023).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(1023).nullable().optional(),
    id: z.string().max(64).nullable().optional(),
    sdpMid: z.string().max(64).nullable().optional(),
    usernameFragment: z.string().max(256).nullable().optional(),
  })
  .refine(
    (c) =>
      c.label != null || c.sdpMLineIndex != null || c.id != null || c.sdpMid != null,
    { message: 'candidate needs label/sdpMLineIndex or id/sdpMid' },
  );

/**
 * Media state of the sender, shown to the other person ("muted", "camera off", "sharing screen").
 * Extension; original-demo clients never send it.
 */
export const MediaStateSchema = z.object({
  type: z.literal('state'),
  audioMuted: z.boolean(),
  videoOff: z.boolean(),
  screen: z.boolean(),
});

/** The string `'bye'` (original demo: sent before leaving). */
export const ByeSchema = z.literal('bye');

/**
 * A call's safety number as the call page shows it: four groups of four digits, e.g.
 * `0123 4567 8901 2345` (derived from the two DTLS fingerprints in use; client/src/safetyNumber.ts).
 */
export const SAFETY_NUMBER_PATTERN = /^\d{4} \d{4} \d{4} \d{4}$/;

/**
 * The sender's "verified" mark for the safety number `code` (extension): set when the person
 * compared the number aloud and it matched, cleared when they take the mark back. A mark for
 * another code than the receiver's own is not shown as verified (the numbers differ, or one side
 * has a newer connection). Strict: unknown fields are refused.
 */
export const VerifiedSchema = z.strictObject({
  type: z.literal('verified'),
  code: z.string().regex(SAFETY_NUMBER_PATTERN, 'code must be four groups of four digits'),
  verified: z.boolean(),
});

/**
 * The sender records the call (extension): `active` true from start to stop. The receiver shows a
 * recording notice for as long as it lasts, and clears it itself when the sender leaves.
 */
export const RecordingSchema = z.strictObject({
  type: z.literal('recording'),
  active: z.boolean(),
});

/** Network-quality levels, best first (thresholds: client/src/netQuality.ts). */
export const NET_QUALITY_LEVELS = ['good', 'fair', 'poor'] as const;

/** The network quality the sender measures on its own side of the call (extension). */
export const NetQualitySchema = z.strictObject({
  type: z.literal('netQuality'),
  level: z.enum(NET_QUALITY_LEVELS),
});

/**
 * The schema of each object `message` payload by its `type`, so a validator can pick the right one
 * and word a precise reason (the server does). A new message type is added here and to
 * {@link MessageDataSchema}; nothing else on the server changes.
 */
export const MESSAGE_SCHEMAS = {
  offer: DescriptionSchema,
  answer: DescriptionSchema,
  candidate: CandidateSchema,
  state: MediaStateSchema,
  verified: VerifiedSchema,
  recording: RecordingSchema,
  netQuality: NetQualitySchema,
} as const;

/** The schema for a payload `type`, or undefined for an unknown type. */
export function messageSchemaFor(type: unknown): (typeof MESSAGE_SCHEMAS)[keyof typeof MESSAGE_SCHEMAS] | undefined {
  return typeof type === 'string' && Object.hasOwn(MESSAGE_SCHEMAS, type) ? MESSAGE_SCHEMAS[type as keyof typeof MESSAGE_SCHEMAS] : undefined;
}

/** Any relayable `message` payload. */
export const MessageDataSchema = z.union([DescriptionSchema, CandidateSchema, MediaStateSchema, VerifiedSchema, RecordingSchema, NetQualitySchema, ByeSchema]);

export type SessionDescriptionMessage = z.infer<typeof DescriptionSchema>;
export type CandidateMessage = z.infer<typeof CandidateSchema>;
export type MediaStateMessage = z.infer<typeof MediaStateSchema>;
export type VerifiedMessage = z.infer<typeof VerifiedSchema>;
export type RecordingMessage = z.infer<typeof RecordingSchema>;
export type NetQualityMessage = z.infer<typeof NetQualitySchema>;
export type NetQualityLevel = (typeof NET_QUALITY_LEVELS)[number];
export type MessageData = z.infer<typeof MessageDataSchema>;

/** Longest room passcode accepted, in characters (after Unicode NFC normalization). */
export const MAX_PASSCODE_LENGTH = 64;

/**
 * A room passcode as typed (any characters, at most {@link MAX_PASSCODE_LENGTH}); normalized to
 * Unicode NFC so the same text typed on different keyboards matches. The empty string means "no
 * passcode".
 */
export const PasscodeSchema = z
  .string()
  .max(MAX_PASSCODE_LENGTH * 4, `passcode longer than ${MAX_PASSCODE_LENGTH} characters`)
  .transform((v) => v.normalize('NFC'))
  .refine((v) => v.length <= MAX_PASSCODE_LENGTH, { message: `passcode longer than ${MAX_PASSCODE_LENGTH} characters` });

/** Optional second argument of `join` (extension). */
export const JoinOptionsSchema = z
  .object({
    /**
     * Per-tab session token (random, 16–64 URL-safe chars, kept in `sessionStorage`). A member
     * who disconnects keeps the seat for the grace period; rejoining with the same token takes
     * it back without "room full".
     */
    session: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'session must be 16-64 URL-safe characters').optional(),
    /**
     * Room passcode. The person who opens the room (the first joiner) sets it for the room's
     * lifetime (until its last seat is freed); every later joiner must give the same one, or is
     * refused with `wrong-passcode`. Ignored when the room is already open without one. A resume
     * with the session token of a seat needs no passcode. Never stored or logged in clear.
     */
    passcode: PasscodeSchema.optional(),
  })
  .strict();

export type JoinOptions = z.infer<typeof JoinOptionsSchema>;

/** One `RTCIceServer` as handed to a seated member (TURN entries carry REST credentials). */
export const IceServerSchema = z.object({
  urls: z.union([z.string().max(512), z.array(z.string().max(512)).max(16)]),
  username: z.string().max(512).optional(),
  credential: z.string().max(512).optional(),
});

/**
 * ICE servers with TURN REST credentials for a seated member: in `joined` (`JoinedInfo.ice`) and in
 * the acknowledgement of `ice-servers`. `ttl`: seconds the credentials stay valid (renew before).
 */
export const IceServersInfoSchema = z.object({
  iceServers: z.array(IceServerSchema).max(16),
  ttl: z.number().int().nonnegative(),
});

export type IceServersInfo = z.infer<typeof IceServersInfoSchema>;

/** Optional third argument of `joined` (extension). */
export interface JoinedInfo {
  /**
   * ICE servers with fresh TURN REST credentials for this seat (extension; absent when the server
   * hands out none). The REST username names the seat, so the admin API can end its allocations.
   */
  ice?: IceServersInfo;
  /** Perfect-negotiation role: the second joiner is polite, the first impolite. */
  polite: boolean;
  /** Number of members now seated, 1 or 2. */
  members: number;
  /** True when the seat was taken back within the grace period with the same session token. */
  resumed?: boolean;
  /** True when the room is protected by a passcode (absent: no passcode). */
  passcode?: boolean;
}

/** Why a request was refused; sent in `error` events and negative acknowledgements. */
export interface SignalingError {
  /** The event that was refused, e.g. `'join'`, `'message'`. */
  event: string;
  /**
   * Stable machine-readable code. `wrong-passcode`: the room has a passcode and the join gave
   * another one or none (never answered with `full`, and nothing changed). `rate-limited`: too
   * many events from this connection, or (for `join`) too many join attempts from this client
   * address.
   */
  code: 'invalid-room' | 'invalid-payload' | 'not-a-member' | 'already-joined' | 'rate-limited' | 'wrong-passcode' | 'server-shutdown';
  /** Human-readable reason, e.g. `room must be a number of 1 to 12 digits`. */
  reason: string;
  room?: string;
}

/** Acknowledgement passed to the optional callback of a client event. */
export type Ack = { ok: true } | { ok: false; error: SignalingError };

/** Acknowledgement of `ice-servers`: fresh credentials, or a refusal (`not-a-member` when not seated in the room). */
export type IceServersAck = ({ ok: true } & IceServersInfo) | { ok: false; error: SignalingError };

/** Events the client emits. A trailing acknowledgement callback is optional on each. */
export interface ClientToServerEvents {
  join: (room: Room, options?: JoinOptions, ack?: (res: Ack) => void) => void;
  leave: (room: Room, ack?: (res: Ack) => void) => void;
  message: (room: Room, data: MessageData, ack?: (res: Ack) => void) => void;
  /**
   * Extension: fresh ICE servers (TURN REST credentials) for the sender's seat in `room`, in the
   * acknowledgement (required). Only a member seated in `room` gets them; others get `not-a-member`.
   * Clients renew with it before the credentials expire and before an ICE restart.
   */
  'ice-servers': (room: Room, ack: (res: IceServersAck) => void) => void;
}

/** Events the server emits. */
export interface ServerToClientEvents {
  /** To the joiner: seated in `room`; `socketId` is the joiner's own id. */
  joined: (room: Room, socketId: string, info?: JoinedInfo) => void;
  /** To the member already there: `socketId` joined; this member makes the offer. */
  otherjoin: (room: Room, socketId: string) => void;
  /** To the joiner: the room already holds two people. */
  full: (room: Room, socketId: string) => void;
  /** To the leaver: left `room`. */
  leaved: (room: Room, socketId: string) => void;
  /** To the member who stays: the other (`socketId`) left or disconnected (after the grace period). */
  bye: (room: Room, socketId: string) => void;
  /** Relayed from the other member. */
  message: (room: Room, data: MessageData) => void;
  /** A request was refused; nothing changed. */
  error: (err: SignalingError) => void;
  /** Extension: the other member's connection dropped; the seat is held for `graceMs` milliseconds. */
  otherreconnecting: (room: Room, socketId: string, graceMs: number) => void;
  /** Extension: the server is shutting down; reconnect (to another node, or after restart). */
  restarting: (reason: string) => void;
}
