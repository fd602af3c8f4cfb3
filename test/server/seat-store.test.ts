/** RoomRegistry (server/signaling/rooms.ts) on its own: seats, roles, one room per socket, grace timers. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RoomRegistry } from '../../server/signaling/rooms.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('RoomRegistry', () => {
  it('seats two, refuses the third, roles opposite, rooms forgotten when empty', () => {
    const r = new RoomRegistry();
    expect(r.join('1', 'a')).toMatchObject({ kind: 'joined', members: 1, seat: { polite: false } });
    expect(r.join('1', 'b')).toMatchObject({ kind: 'joined', members: 2, seat: { polite: true }, other: { socketId: 'a', polite: false } });
    expect(r.join('1', 'c')).toEqual({ kind: 'full', members: 2 });
    expect(r.leave('a')).toMatchObject({ room: '1', other: { socketId: 'b' } });
    // b stays; a newcomer is polite and b becomes impolite.
    expect(r.join('1', 'c')).toMatchObject({ kind: 'joined', seat: { polite: true } });
    expect(r.snapshot()[0]!.members.find((m) => m.socketId === 'b')!.polite).toBe(false);
    r.leave('b');
    r.leave('c');
    expect(r.roomCount).toBe(0);
    expect(r.leave('zzz')).toBeUndefined();
  });

  it('one room per socket; same-room re-join is idempotent', () => {
    const r = new RoomRegistry();
    r.join('1', 'a');
    expect(r.join('2', 'a')).toEqual({ kind: 'other-room', room: '1' });
    expect(r.join('1', 'a')).toMatchObject({ kind: 'joined', rejoin: true, members: 1 });
    expect(r.seatCount).toBe(1);
  });

  it('holds a seat with a session for the grace period, then frees it and reports it', () => {
    vi.useFakeTimers();
    const r = new RoomRegistry();
    r.join('1', 'a', 'sessionA-xxxxxxxxxxxx');
    r.join('1', 'b', 'sessionB-xxxxxxxxxxxx');
    const expired = vi.fn();
    expect(r.disconnect('b', 1000, expired)).toMatchObject({ held: true, room: '1', other: { socketId: 'a' } });
    expect(r.heldCount).toBe(1);
    expect(r.join('1', 'c')).toMatchObject({ kind: 'full' });
    vi.advanceTimersByTime(999);
    expect(expired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(expired).toHaveBeenCalledWith(expect.objectContaining({ room: '1', seat: expect.objectContaining({ socketId: 'b' }) }));
    expect(r.seatCount).toBe(1);
  });

  it('resumes a held seat with the same session and cancels its timer', () => {
    vi.useFakeTimers();
    const r = new RoomRegistry();
    r.join('1', 'a', 'sessionA-xxxxxxxxxxxx');
    r.join('1', 'b', 'sessionB-xxxxxxxxxxxx');
    const expired = vi.fn();
    r.disconnect('b', 1000, expired);
    expect(r.join('1', 'b2', 'sessionB-xxxxxxxxxxxx')).toMatchObject({ kind: 'joined', resumed: true, members: 2, seat: { socketId: 'b2', connected: true } });
    vi.advanceTimersByTime(5000);
    expect(expired).not.toHaveBeenCalled();
    expect(r.isSeated('1', 'b2')).toBe(true);
    expect(r.isSeated('1', 'b')).toBe(false);
  });

  it('without a session or with grace 0 the seat is freed at once', () => {
    const r = new RoomRegistry();
    r.join('1', 'a');
    r.join('2', 'b', 'sessionB-xxxxxxxxxxxx');
    expect(r.disconnect('a', 1000, () => {})).toMatchObject({ held: false });
    expect(r.disconnect('b', 0, () => {})).toMatchObject({ held: false });
    expect(r.seatCount).toBe(0);
  });

  it('clear() cancels grace timers', () => {
    vi.useFakeTimers();
    const r = new RoomRegistry();
    r.join('1', 'a', 'sessionA-xxxxxxxxxxxx');
    const expired = vi.fn();
    r.disconnect('a', 1000, expired);
    r.clear();
    vi.advanceTimersByTime(2000);
    expect(expired).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });
});
