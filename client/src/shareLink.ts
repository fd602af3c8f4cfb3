/**
 * Links to a room: a new random room number and the link a person sends to invite someone
 * (`https://HOST/?room=N`). Pure functions, no DOM.
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
 * The link that opens `room` on this deployment: `ORIGIN/?room=N` (nothing else from the current
 * URL, e.g. no `relay=1`: that is the sender's own test setting).
 * @param origin e.g. `https://call.example.com` (`location.origin`).
 * @throws Error when `room` is not a room number.
 */
export function roomLink(origin: string, room: string): string {
  if (!ROOM_PATTERN.test(room)) throw new Error(`not a room number: ${room}`);
  const url = new URL('/', origin);
  url.searchParams.set('room', room);
  return url.toString();
}
