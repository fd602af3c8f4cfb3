/**
 * The room a page is in: the room-number rule (`ROOM_PATTERN` of the signaling contract) as a
 * sentence for the join form, and the room this tab was in, remembered across a reload
 * (sessionStorage) so the reload takes the seat back.
 */
import { ROOM_PATTERN } from '../../contracts/signaling.js';

/** Why `value` is not a room number (a sentence for the form), or undefined when it is one. */
export function roomProblem(value: string): string | undefined {
  if (value === '') return 'Enter a room number.';
  if (!/^\d+$/.test(value)) return 'A room number has digits only (0–9), e.g. 1234.';
  if (!ROOM_PATTERN.test(value)) return 'A room number has at most 12 digits.';
  return undefined;
}

/** A room this tab is in, and whether it was joined relay-only (`?relay=1`). */
export interface ActiveRoom {
  room: string;
  relayOnly: boolean;
}

/** sessionStorage key remembering the room of this tab, so a reload takes the seat back. */
const ACTIVE_KEY = 'webrtc-call-active';

/** The room this tab was in before a reload, if any (a malformed or foreign entry is ignored). */
export function rememberedRoom(): ActiveRoom | undefined {
  try {
    const raw = sessionStorage.getItem(ACTIVE_KEY);
    if (!raw) return undefined;
    const v = JSON.parse(raw) as { room?: unknown; relayOnly?: unknown };
    return typeof v.room === 'string' && ROOM_PATTERN.test(v.room) ? { room: v.room, relayOnly: v.relayOnly === true } : undefined;
  } catch {
    return undefined;
  }
}

/** Remember the room this tab is in (null: none, after Leave). Does nothing when storage is disabled. */
export function rememberRoom(active: ActiveRoom | null): void {
  try {
    if (active) sessionStorage.setItem(ACTIVE_KEY, JSON.stringify(active));
    else sessionStorage.removeItem(ACTIVE_KEY);
  } catch {
    /* storage disabled */
  }
}
