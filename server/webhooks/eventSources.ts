/**
 * From what the signaling server and the relay report to webhook events:
 * - room events (`signaling/roomEvents.ts`) → `room.join`, `room.leave`, `room.full`,
 *   `room.refused` (refused joins only), and the calls they make: `call.start` when a room's
 *   second seat is taken, `call.end` when one of two seats is freed. A seat held for the grace
 *   period still counts as seated, so a reconnect or page reload does not end the call, and a
 *   resumed seat does not start a new one. The call's start and id come from the seats' join times,
 *   which the seat store keeps (also in Redis), so `call.end` needs no state here and another node
 *   than the one that sent `call.start` can send it.
 * - relay IPC allocation reports → `relay.allocation.start` / `relay.allocation.end`.
 */
import { createHash } from 'node:crypto';
import type { RelayAllocationEndMessage, RelayAllocationStartMessage } from '../../contracts/relayIpc.js';
import type { WebhookDataMap, WebhookEventType } from '../../contracts/webhooks.js';
import type { RoomEvent, SeatView } from '../signaling/roomEvents.js';

/** Where events go (e.g. {@link Webhooks.emit}); must return at once. */
export type EmitFn = <T extends WebhookEventType>(type: T, data: WebhookDataMap[T], atMs?: number) => unknown;

/**
 * The id of the call between two seats of `room`: the same whoever computes it, from the room and
 * the seats' join times (32 hex digits of SHA-256).
 */
export function callId(room: string, a: SeatView, b: SeatView): string {
  const [t1, t2] = [a.joinedAt, b.joinedAt].sort((x, y) => x - y);
  return createHash('sha256').update(`${room}\n${t1}\n${t2}`).digest('hex').slice(0, 32);
}

/** When the call between two seats started: when the second one was taken, Unix ms. */
function callStartedAt(a: SeatView, b: SeatView): number {
  return Math.max(a.joinedAt, b.joinedAt);
}

/**
 * Send the webhook events of one room event.
 * @param now  Unix ms of the event (default now).
 */
export function emitRoomEvent(e: RoomEvent, emit: EmitFn, now = Date.now()): void {
  switch (e.kind) {
    case 'join': {
      emit('room.join', { room: e.room, socketId: e.socketId, members: e.members, polite: e.seat.polite, resumed: e.resumed }, now);
      if (!e.resumed && e.members === 2 && e.other) {
        emit(
          'call.start',
          { room: e.room, callId: callId(e.room, e.seat, e.other), socketIds: [e.other.socketId, e.socketId], startedAt: new Date(callStartedAt(e.seat, e.other)).toISOString() },
          now,
        );
      }
      return;
    }
    case 'leave': {
      emit('room.leave', e.reason === 'node-lost' ? { room: e.room, socketId: e.socketId, reason: e.reason } : { room: e.room, socketId: e.socketId, reason: e.reason, members: e.other ? 1 : 0 }, now);
      if (e.seat && e.other) {
        const startedAt = callStartedAt(e.seat, e.other);
        emit(
          'call.end',
          { room: e.room, callId: callId(e.room, e.seat, e.other), startedAt: new Date(startedAt).toISOString(), durationMs: Math.max(0, now - startedAt), reason: e.reason, socketId: e.socketId },
          now,
        );
      }
      return;
    }
    case 'full':
      emit('room.full', { room: e.room, socketId: e.socketId, members: e.members }, now);
      return;
    case 'refused':
      if (e.event !== 'join') return;
      emit('room.refused', e.room !== undefined ? { room: e.room, socketId: e.socketId, code: e.code } : { socketId: e.socketId, code: e.code }, now);
      return;
  }
}

/** Send the webhook event of a relay allocation report. */
export function emitRelayEvent(m: RelayAllocationStartMessage | RelayAllocationEndMessage, emit: EmitFn): void {
  if (m.type === 'allocation-start') emit('relay.allocation.start', m.allocation, m.at);
  else emit('relay.allocation.end', m.allocation, m.at);
}
