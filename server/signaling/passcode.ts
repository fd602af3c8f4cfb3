/**
 * Room passcodes as the seat stores keep them: never the passcode itself, only a verifier derived
 * with scrypt (RFC 7914), salted with the room number, so the same passcode gives the same
 * verifier on every server node (the Redis store compares verifiers inside its join script) and a
 * copy of the seats (a Redis dump) does not show passcodes; guessing one back costs a scrypt per
 * guess and per room.
 */
import { scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost (N = 2^14, r = 8, p = 1: ≈ 16 MiB and tens of ms per join with a passcode, off the event loop). */
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
/** Verifier length, bytes (hex-encoded: twice as many characters). */
const KEY_BYTES = 32;

/**
 * The verifier of `passcode` for `room`: 64 hex characters.
 * @param passcode as validated by `PasscodeSchema` (NFC-normalized, non-empty).
 * @throws only if scrypt fails (out of memory).
 */
export function passcodeVerifier(room: string, passcode: string): Promise<string> {
  return new Promise((resolve, reject) => {
    scrypt(passcode, `webrtc-call room passcode|${room}`, KEY_BYTES, SCRYPT, (err, key) => (err ? reject(err) : resolve(key.toString('hex'))));
  });
}

/** Compare two verifiers in constant time (for equal lengths; a different length is simply false). */
export function verifiersMatch(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
