/**
 * Links to a room: a new random room number and the link a person sends to invite someone
 * (`https://HOST/?room=N`, with the room's passcode in the fragment: `…#pass=XYZ`; browsers never
 * send the fragment to a server, so no proxy or access log sees the passcode). Pure functions, no DOM.
 */
import { ROOM_PATTERN } from '../../contracts/signaling.js';

/** Digits of a room number made by {@link randomRoom}: hard to guess, still easy to read out. */
export const RANDOM_ROOM_DIGITS = 9;

/**
 * A random room number of {@link RANDOM_ROOM_DIGITS} digits, not starting with 0 (so it reads the
 * same as a number), from a cryptographic source.
 * @param fill fills an array with random values (default `crypto.getRandomValues`).
 */
export function randomRoom(fill: (a: Uint32Array<ArrayBuffer>) => void = (a) => crypto.getRandomValues(a)): string {
  const values = new Uint32Array(RANDOM_ROOM_DIGITS);
  fill(values);
  let room = String(1 + (values[0]! % 9));
  for (let i = 1; i < RANDOM_ROOM_DIGITS; i++) room += String(values[i]! % 10);
  return room;
}

/**
 * The link that opens `room` on this deployment: `ORIGIN/?room=N`, plus `#pass=XYZ` when the room
 * has a passcode (nothing else from the current URL, e.g. no `relay=1`: that is the sender's own
 * test setting).
 * @param origin   e.g. `https://call.example.com` (`location.origin`).
 * @param passcode the room's passcode ('' or undefined: none), percent-encoded in the link.
 * @throws Error when `room` is not a room number.
 */
export function roomLink(origin: string, room: string, passcode?: string): string {
  if (!ROOM_PATTERN.test(room)) throw new Error(`not a room number: ${room}`);
  const url = new URL('/', origin);
  url.searchParams.set('room', room);
  if (passcode) url.hash = withPasscode('', passcode);
  return url.toString();
}

/** The passcode in a URL fragment (`#pass=XYZ`, among other `&`-separated fields), or '' when none. */
export function passcodeFromHash(hash: string): string {
  const fields = hash.replace(/^#/, '');
  for (const field of fields.split('&')) {
    if (!field.startsWith('pass=')) continue;
    try {
      return decodeURIComponent(field.slice(5));
    } catch {
      return '';
    }
  }
  return '';
}

/**
 * `hash` with its `pass=` field set to `passcode` (removed when `passcode` is ''); other fields kept.
 * @returns the new fragment without `#` ('' when nothing is left).
 */
export function withPasscode(hash: string, passcode: string): string {
  const fields = hash
    .replace(/^#/, '')
    .split('&')
    .filter((f) => f !== '' && !f.startsWith('pass='));
  if (passcode) fields.unshift(`pass=${encodeURIComponent(passcode)}`);
  return fields.join('&');
}
