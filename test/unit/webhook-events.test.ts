/**
 * From room events and relay reports to webhook events (server/webhooks/eventSources.ts): calls
 * start when the second seat is taken and end when one of two seats is freed — a resumed seat does
 * not start a second call, a lone member's leave ends none — with the same call id at both ends; only
 * refused joins become room.refused. And the relay IPC check of allocation reports.
 */
import { describe, expect, it } from 'vitest';
import { isRelayChildMessage } from '../../contracts/relayIpc.js';
import type { WebhookDataMap, WebhookEventType } from '../../contracts/webhooks.js';
import { emitRelayEvent, emitRoomEvent } from '../../server/webhooks/eventSources.js';
import type { RoomEvent, SeatView } from '../../server/signaling/roomEvents.js';

type Emitted = { type: WebhookEventType; data: WebhookDataMap[WebhookEventType]; at?: number };
function collect(events: RoomEvent[], now: number): Emitted[] {
  const out: Emitted[] = [];
  for (const e of events) emitRoomEvent(e, (type, data, at) => out.push({ type, data, at }), now);
  return out;
}

const seat = (socketId: string, joinedAt: number, polite = false): SeatView => ({ socketId, joinedAt, polite, connected: true });

describe('room events → webhook events', () => {
  const a = seat('A', 1000);
  const b = seat('B', 4000, true);

  it('the second seat starts a call; freeing one of two seats ends it with the duration in ms', () => {
    const out = collect(
      [
        { kind: 'join', room: '9', socketId: 'A', seat: a, members: 1, resumed: false },
        { kind: 'join', room: '9', socketId: 'B', seat: b, other: a, members: 2, resumed: false },
      ],
      4000,
    );
    expect(out.map((e) => e.type)).toEqual(['room.join', 'room.join', 'call.start']);
    const start = out[2]!.data as WebhookDataMap['call.start'];
    expect(start).toMatchObject({ room: '9', socketIds: ['A', 'B'], startedAt: new Date(4000).toISOString() });

    const end = collect([{ kind: 'leave', room: '9', socketId: 'A', reason: 'leave', seat: a, other: b }], 9500);
    expect(end.map((e) => e.type)).toEqual(['room.leave', 'call.end']);
    expect(end[0]!.data).toEqual({ room: '9', socketId: 'A', reason: 'leave', members: 1 });
    expect(end[1]!.data).toEqual({ room: '9', callId: start.callId, startedAt: new Date(4000).toISOString(), durationMs: 5500, reason: 'leave', socketId: 'A' });
    expect(end[1]!.at).toBe(9500);
  });

  it('the call id depends on the room and both join times, not on which seat computes it', () => {
    const fromB = collect([{ kind: 'leave', room: '9', socketId: 'B', reason: 'disconnect', seat: b, other: a }], 5000)[1]!.data as WebhookDataMap['call.end'];
    const fromA = collect([{ kind: 'leave', room: '9', socketId: 'A', reason: 'grace-expired', seat: a, other: b }], 5000)[1]!.data as WebhookDataMap['call.end'];
    const otherRoom = collect([{ kind: 'leave', room: '10', socketId: 'A', reason: 'leave', seat: a, other: b }], 5000)[1]!.data as WebhookDataMap['call.end'];
    const laterCall = collect([{ kind: 'leave', room: '9', socketId: 'A', reason: 'leave', seat: a, other: seat('C', 4001) }], 5000)[1]!.data as WebhookDataMap['call.end'];
    expect(fromB.callId).toBe(fromA.callId);
    expect(otherRoom.callId).not.toBe(fromA.callId);
    expect(laterCall.callId).not.toBe(fromA.callId);
  });

  it('a resumed seat starts no new call; a lone member leaving ends none; node-lost has no member count', () => {
    const out = collect(
      [
        { kind: 'join', room: '9', socketId: 'A2', seat: { ...a, socketId: 'A2' }, other: b, members: 2, resumed: true },
        { kind: 'leave', room: '8', socketId: 'Z', reason: 'leave', seat: seat('Z', 1) },
        { kind: 'leave', room: '7', socketId: 'Y', reason: 'node-lost' },
      ],
      6000,
    );
    expect(out.map((e) => e.type)).toEqual(['room.join', 'room.leave', 'room.leave']);
    expect(out[0]!.data).toMatchObject({ resumed: true, members: 2 });
    expect(out[1]!.data).toEqual({ room: '8', socketId: 'Z', reason: 'leave', members: 0 });
    expect(out[2]!.data).toEqual({ room: '7', socketId: 'Y', reason: 'node-lost' });
  });

  it('full and refused joins are reported; refusals of other requests are not', () => {
    const out = collect(
      [
        { kind: 'full', room: '9', socketId: 'C', members: 2 },
        { kind: 'refused', event: 'join', code: 'invalid-room', socketId: 'D' },
        { kind: 'refused', event: 'join', code: 'rate-limited', room: '9', socketId: 'E' },
        { kind: 'refused', event: 'message', code: 'not-a-member', room: '9', socketId: 'F' },
      ],
      1,
    );
    expect(out.map((e) => [e.type, e.data])).toEqual([
      ['room.full', { room: '9', socketId: 'C', members: 2 }],
      ['room.refused', { socketId: 'D', code: 'invalid-room' }],
      ['room.refused', { room: '9', socketId: 'E', code: 'rate-limited' }],
    ]);
  });
});

describe('relay allocation reports over IPC', () => {
  const ta = (port: number) => ({ family: 4 as const, address: '127.0.0.1', port });
  const base = { allocationId: '1-ab', username: '1700000000:seat', client: ta(40000), server: ta(3478), transport: 'udp' as const, relayed: ta(50000), advertised: ta(50000) };
  const end = { ...base, reason: 'expired' as const, durationMs: 1234, counters: { packetsToPeer: 1, bytesToPeer: 10, packetsFromPeer: 2, bytesFromPeer: 20 } };

  it('well-formed reports pass the parent check and become webhook events at the relay time', () => {
    const start = { type: 'allocation-start' as const, at: 111, allocation: { ...base, lifetimeS: 600 } };
    const stop = { type: 'allocation-end' as const, at: 222, allocation: end };
    expect(isRelayChildMessage(start)).toBe(true);
    expect(isRelayChildMessage(stop)).toBe(true);
    const out: Emitted[] = [];
    for (const m of [start, stop]) emitRelayEvent(m, (type, data, at) => out.push({ type, data, at }));
    expect(out).toEqual([
      { type: 'relay.allocation.start', data: start.allocation, at: 111 },
      { type: 'relay.allocation.end', data: end, at: 222 },
    ]);
  });

  it('malformed reports are refused', () => {
    expect(isRelayChildMessage({ type: 'allocation-start', at: 1, allocation: base })).toBe(false);
    expect(isRelayChildMessage({ type: 'allocation-end', at: 1, allocation: { ...end, counters: { bytesToPeer: 1 } } })).toBe(false);
    expect(isRelayChildMessage({ type: 'allocation-end', at: 1, allocation: { ...end, client: '127.0.0.1:40000' } })).toBe(false);
    expect(isRelayChildMessage({ type: 'allocation-end', allocation: end })).toBe(false);
    expect(isRelayChildMessage({ type: 'allocation-start', at: 1, allocation: { ...base, lifetimeS: 600, transport: 'sctp' } })).toBe(false);
  });
});
