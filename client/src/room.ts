/**
 * The room a page is in: the room-number rule (`ROOM_PATTERN` of the signaling contract) as a
 * sentence for the join form, and the room this tab was in, remembered across a reload
 * (sessionStorage) so the reload takes the seat back.
 */
import { ROOM_PATTERN } from '../../contracts/signaling.js';
import { msg, type Msg } from './i18n/index.js';

/** Why `value` is not a room number (a sentence for the form), or undefined when it is one. */
export function roomProblem(value: string): Msg | undefined {
  if (value === '') return msg('room.empty');
  if (!/^\d+$/.test(value)) return msg('room.digitsOnly');
  if (!ROOM_PATTERN.test(value)) return msg('room.tooLong');
  return undefined;
}

/** A room this tab is in, whether it was joined relay-only (`?relay=1`), and its passcode (this tab only). */
export interface ActiveRoom {
  room: string;
  relayOnly: boolean;
  passcode?: string;
}

/** sessionStorage key remembering the room of this tab, so a reload takes the seat back. */
const ACTIVE_KEY = 'webrtc-call-active';

/** The room this tab was in before a reload, if any (a malformed or foreign entry is ignored). */
export function rememberedRoom(): ActiveRoom | undefined {
  try {
    const raw = sessionStorage.getItem(ACTIVE_KEY);
    if (!raw) return undefined;
    const v = JSON.parse(raw) as { room?: unknown; relayOnly?: unknown; passcode?: unknown };
    if (typeof v.room !== 'string' || !ROOM_PATTERN.test(v.room)) return undefined;
    return { room: v.room, relayOnly: v.relayOnly === true, passcode: typeof v.passcode === 'string' ? v.passcode : '' };
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
