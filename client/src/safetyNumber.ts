/**
 * The safety number of a call: a short code both people read aloud to check that their browsers
 * talk to each other and not to someone in the middle. No DOM here; WebCrypto only (browsers and
 * Node 20 have it), so the derivation is unit-tested in Node.
 *
 * Why it works: media and data of a WebRTC call are encrypted with keys agreed in a DTLS handshake
 * (DTLS-SRTP, RFC 5764) between the two browsers' certificates. Each browser checks the other's
 * certificate only against the fingerprint that came in the session description (RFC 8122 §5,
 * RFC 8829 §5.2.1) — which travels through the signaling server. A server (or anyone who can
 * rewrite signaling) could swap both fingerprints for its own and sit in the middle of two DTLS
 * sessions. The number is derived from the two fingerprints a page's connection actually uses
 * (its own, and the one the other end proved in the handshake); with nobody in the middle both pages
 * use the same pair and show the same number, with someone in the middle each page uses a pair
 * with the attacker's certificate and the numbers differ.
 *
 * Derivation: each fingerprint as `algorithm HEX:HEX:…` (RFC 8122 §5 form, algorithm lower case,
 * hex upper case); the two sorted (so both ends agree) and joined with a line feed; stretched with
 * PBKDF2-HMAC-SHA-256 ({@link SAFETY_ITERATIONS} iterations, fixed salt) to 128 bits; four
 * big-endian 32-bit words, each modulo 10 000, shown as four groups of four digits (≈ 53 bits).
 * The stretching makes each guess cost an attacker who grinds certificates until two numbers match
 * (see README, "What the safety number proves").
 */

/** A certificate fingerprint: hash algorithm (`sha-256`, …) and value (`AB:CD:…`, upper-case hex). */
export interface Fingerprint {
  algorithm: string;
  value: string;
}

/** Where the remote fingerprint came from: the DTLS handshake's certificate, or the applied remote description. */
export type FingerprintSource = 'certificate' | 'sdp';

/** PBKDF2 iterations of the derivation (≈ 30–100 ms in a browser; each attacker guess costs as much). */
export const SAFETY_ITERATIONS = 100_000;

/** Fixed PBKDF2 salt: names the scheme and its version, so other uses of the fingerprints never collide. */
const SAFETY_SALT = 'webrtc-call safety number v1';

/** WebCrypto digest names of the RFC 8122 hash function names. */
const DIGESTS: Record<string, string> = { 'sha-1': 'SHA-1', 'sha-256': 'SHA-256', 'sha-384': 'SHA-384', 'sha-512': 'SHA-512' };

/** Preferred algorithm when an SDP offers several fingerprints of one certificate. */
const PREFERENCE = ['sha-256', 'sha-384', 'sha-512', 'sha-1'];

/** `bytes` as `AB:CD:…`. */
export function hexColons(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return Array.from(u8, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

/** A fingerprint in the canonical form used for the number. */
export function canonical(fp: Fingerprint): string {
  return `${fp.algorithm.toLowerCase()} ${fp.value.toUpperCase()}`;
}

/**
 * The `a=fingerprint` attributes of an SDP (session or media level; RFC 8122 §5), without
 * duplicates, best algorithm first. Malformed lines are skipped.
 */
export function sdpFingerprints(sdp: string): Fingerprint[] {
  const seen = new Map<string, Fingerprint>();
  for (const m of sdp.matchAll(/^a=fingerprint:(\S+) ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+)\s*$/gm)) {
    const fp = { algorithm: m[1]!.toLowerCase(), value: m[2]!.toUpperCase() };
    seen.set(canonical(fp), fp);
  }
  const rank = (a: string) => (PREFERENCE.includes(a) ? PREFERENCE.indexOf(a) : PREFERENCE.length);
  return [...seen.values()].sort((x, y) => rank(x.algorithm) - rank(y.algorithm));
}

/**
 * The fingerprint of a DER certificate with `algorithm` (RFC 8122 §5: the hash of the DER form).
 * @throws Error for a hash function WebCrypto does not have (e.g. `md5`).
 */
export async function certificateFingerprint(der: ArrayBuffer, algorithm = 'sha-256'): Promise<Fingerprint> {
  const digest = DIGESTS[algorithm.toLowerCase()];
  if (!digest) throw new Error(`unsupported fingerprint algorithm ${algorithm}`);
  return { algorithm: algorithm.toLowerCase(), value: hexColons(await crypto.subtle.digest(digest, der)) };
}

/**
 * The safety number of two fingerprints (order does not matter): `NNNN NNNN NNNN NNNN`.
 * Derivation in the module comment.
 */
export async function safetyNumber(a: Fingerprint, b: Fingerprint, iterations = SAFETY_ITERATIONS): Promise<string> {
  const text = [canonical(a), canonical(b)].sort().join('\n');
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(text), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: enc.encode(SAFETY_SALT), iterations }, key, 128);
  const view = new DataView(bits);
  const groups: string[] = [];
  // 2^32 mod 10 000 = 7 296: the first 7 296 values are a 0.0002 % likelier; no use to anyone.
  for (let i = 0; i < 4; i++) groups.push(String(view.getUint32(i * 4) % 10_000).padStart(4, '0'));
  return groups.join(' ');
}

/** The two fingerprints a connection uses, and where the remote one was read. */
export interface FingerprintsInUse {
  local: Fingerprint;
  remote: Fingerprint;
  source: FingerprintSource;
}

/** The connection's DTLS transport (with max-bundle there is one for everything). */
function dtlsTransport(pc: RTCPeerConnection): RTCDtlsTransport | null {
  return pc.sctp?.transport ?? pc.getSenders().find((s) => s.transport)?.transport ?? pc.getReceivers().find((r) => r.transport)?.transport ?? null;
}

/**
 * Read the fingerprints a connected `pc` uses.
 *
 * - Ours: from the applied local description, written by this browser for its own certificate.
 * - Theirs: from the certificate the other end presented in the DTLS handshake
 *   (`RTCDtlsTransport.getRemoteCertificates()`, Chromium), hashed with the algorithm their
 *   description named. Browsers without it (Firefox ESR) use the fingerprint of the applied remote
 *   description instead: equally valid for a connected call, because the browser aborts the DTLS
 *   handshake unless the certificate presented matches that fingerprint (RFC 8122 §5) — it is the
 *   value the encryption is bound to, not just what signaling carried.
 * @returns null when the connection has no applied descriptions or fingerprints yet.
 */
export async function fingerprintsInUse(pc: RTCPeerConnection): Promise<FingerprintsInUse | null> {
  const localSdp = pc.currentLocalDescription?.sdp ?? pc.localDescription?.sdp;
  const remoteSdp = pc.currentRemoteDescription?.sdp ?? pc.remoteDescription?.sdp;
  if (!localSdp || !remoteSdp) return null;
  const local = sdpFingerprints(localSdp)[0];
  const remoteSdpFp = sdpFingerprints(remoteSdp)[0];
  if (!local || !remoteSdpFp) return null;
  const transport = dtlsTransport(pc) as (RTCDtlsTransport & { getRemoteCertificates?: () => ArrayBuffer[] }) | null;
  const certs = typeof transport?.getRemoteCertificates === 'function' ? transport.getRemoteCertificates() : [];
  const leaf = certs[0];
  if (leaf && leaf.byteLength > 0 && DIGESTS[remoteSdpFp.algorithm]) {
    return { local, remote: await certificateFingerprint(leaf, remoteSdpFp.algorithm), source: 'certificate' };
  }
  return { local, remote: remoteSdpFp, source: 'sdp' };
}
