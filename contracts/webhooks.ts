/**
 * Webhook events: what the web server POSTs to `WEBHOOK_URL` (one event per request, JSON, UTF-8).
 * The payloads are a public contract for operators' receivers; README.md ("Webhooks") shows each
 * one. Only identifiers appear: room numbers, Socket.IO socket ids (a member's seat), TURN usernames
 * and allocation ids — never passcodes, session tokens, credentials or message contents.
 *
 * Every request carries:
 * - {@link SIGNATURE_HEADER}: `sha256=<hex>`, HMAC-SHA256 keyed with `WEBHOOK_SECRET` over the exact
 *   bytes of the body;
 * - {@link TIMESTAMP_HEADER}: the body's `sentAt` as Unix seconds (reject old ones to refuse replays;
 *   the signed copy is the body's);
 * - {@link EVENT_ID_HEADER} and {@link EVENT_TYPE_HEADER}: the body's `id` and `type`.
 */
import type { AllocationEndReason, RelayAllocationData, RelayAllocationEndData, RelayAllocationStartData } from './relay.js';

export type { AllocationEndReason, RelayAllocationData, RelayAllocationEndData, RelayAllocationStartData };

/** `sha256=<64 hex digits>`: HMAC-SHA256 of the body with WEBHOOK_SECRET. */
export const SIGNATURE_HEADER = 'x-webhook-signature';
/** Unix seconds of this delivery attempt (the body's `sentAt`). */
export const TIMESTAMP_HEADER = 'x-webhook-timestamp';
/** The event id (the body's `id`): the same on every retry, for de-duplication. */
export const EVENT_ID_HEADER = 'x-webhook-id';
/** The event type (the body's `type`). */
export const EVENT_TYPE_HEADER = 'x-webhook-event';

/** Every event type. */
export const WEBHOOK_EVENT_TYPES = [
  'room.join',
  'room.leave',
  'room.full',
  'room.refused',
  'call.start',
  'call.end',
  'relay.allocation.start',
  'relay.allocation.end',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A member took a seat (a new seat, or a held seat taken back within the grace period: `resumed`). */
export interface RoomJoinData {
  room: string;
  /** Socket id of the member (new on every connection; a resumed seat gets the new socket's id). */
  socketId: string;
  /** Seats taken in the room after the join (1 or 2). */
  members: number;
  /** Perfect-negotiation role of this member. */
  polite: boolean;
  /** The member came back within the grace period (reconnect, page reload). */
  resumed: boolean;
}

/** Why a seat was freed. */
export type LeaveReason = 'leave' | 'disconnect' | 'grace-expired' | 'node-lost';

/** A seat was freed. A disconnect whose seat is held for the grace period is not a leave (yet). */
export interface RoomLeaveData {
  room: string;
  /** Socket id that held the seat. */
  socketId: string;
  /** `leave`: the member left; `disconnect`: the connection dropped (no grace period); `grace-expired`:
   *  a held seat's grace period ended; `node-lost`: the node of the socket died (REDIS_URL). */
  reason: LeaveReason;
  /** Seats left in the room (0 or 1); absent for `node-lost` (not known there). */
  members?: number;
}

/** A join was answered with `full`. */
export interface RoomFullData {
  room: string;
  socketId: string;
  /** Seats taken in the room (2). */
  members: number;
}

/** A join was refused with an `error` event. */
export interface RoomRefusedData {
  /** The room asked for; absent when it was not a valid room number (code `invalid-room`). */
  room?: string;
  socketId: string;
  /** The stable code of the `error` event (contracts/signaling.ts), e.g. `invalid-room`, `rate-limited`, `already-joined`. */
  code: string;
}

/** Both seats of a room are taken: a call between two members starts. */
export interface CallStartData {
  room: string;
  /** Stable id of this call (the same in `call.end`): derived from the room and the two seats' join times. */
  callId: string;
  /** Socket ids of the two members. */
  socketIds: [string, string];
  /** When the second seat was taken (ISO 8601). */
  startedAt: string;
}

/** One of the two seats of a call was freed. */
export interface CallEndData {
  room: string;
  callId: string;
  startedAt: string;
  /** Milliseconds from `startedAt` to the event's `timestamp`. */
  durationMs: number;
  /** Why the seat was freed (see {@link RoomLeaveData.reason}). */
  reason: LeaveReason;
  /** Socket id whose seat was freed. */
  socketId: string;
}

/** Payload (`data`) of each event type. */
export interface WebhookDataMap {
  'room.join': RoomJoinData;
  'room.leave': RoomLeaveData;
  'room.full': RoomFullData;
  'room.refused': RoomRefusedData;
  'call.start': CallStartData;
  'call.end': CallEndData;
  'relay.allocation.start': RelayAllocationStartData;
  'relay.allocation.end': RelayAllocationEndData;
}

/** The body of a webhook request. */
export type WebhookEvent<T extends WebhookEventType = WebhookEventType> = {
  [K in T]: {
    /** UUID of the event: the same on every retry (de-duplicate on it). */
    id: string;
    type: K;
    /** When it happened (ISO 8601, ms). */
    timestamp: string;
    /** The server node that saw it (with REDIS_URL each node sends its own events). */
    nodeId: string;
    /** When this attempt was sent (ISO 8601): signed, so receivers can refuse replays. */
    sentAt: string;
    /** Delivery attempt, 1 for the first. */
    attempt: number;
    data: WebhookDataMap[K];
  };
}[T];
