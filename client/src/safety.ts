/**
 * The safety number during a call, and the "verified" marks of both people. No DOM: it shows
 * through a {@link SafetyView}.
 *
 * - When the current connection reaches `connected`, the number is derived from the fingerprints
 *   it uses (safetyNumber.ts). An ICE restart keeps the DTLS session, so the number stays; a new
 *   connection (rebuild, or the other page reloaded) has new certificates: a new number, and the
 *   page says that it changed and both marks are cleared — the old comparison proves nothing about
 *   the new connection.
 * - A mark is sent over the room with the number it is for (`verified` message); the other page
 *   shows it as verified only when that number is its own. The mark is a convenience, not a proof:
 *   whoever can rewrite signaling can forge it (README, "What the safety number proves").
 */
import type { VerifiedMessage } from '../../contracts/signaling.js';
import type { CallExtension, CallRoom, ExtensionMessage } from './callExtension.js';
import type { PeerSession } from './peerSession.js';
import { fingerprintsInUse, safetyNumber, type FingerprintSource } from './safetyNumber.js';

/** What the page shows about the safety number. */
/** How often, and how far apart (ms), the peer's certificate is looked for again after `connected`. */
const CERTIFICATE_RETRIES = 20;
const CERTIFICATE_RETRY_MS = 250;

export interface SafetyState {
  /** The number (`NNNN NNNN NNNN NNNN`), or null until the connection is up. */
  code: string | null;
  source: FingerprintSource | null;
  verifiedByMe: boolean;
  /** The other person marked this very number as verified. */
  verifiedByThem: boolean;
  /** The other person's mark names another number (theirs differs from ours, or is older). */
  theirMarkDiffers: boolean;
  /** The number changed during this call (a new connection): compare again. */
  changed: boolean;
}

/** Where {@link SafetyCheck} shows its state (the page). */
export interface SafetyView {
  show(state: SafetyState): void;
}

/** The safety number and marks of the call (see the module comment). */
export class SafetyCheck implements CallExtension {
  private code: string | null = null;
  private source: FingerprintSource | null = null;
  /** The last number shown in this call (survives a connection being replaced). */
  private lastCode: string | null = null;
  private verifiedByMe = false;
  private theirMark: VerifiedMessage | null = null;
  private changed = false;
  /** Bumped for every connection: a derivation finishing for an older one is dropped. */
  private generation = 0;

  constructor(
    private readonly call: CallRoom,
    private readonly view: SafetyView,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    this.render();
  }

  /** The current state (for the page and tests). */
  get state(): SafetyState {
    const verifiedByThem = !!this.theirMark?.verified && this.theirMark.code === this.code && this.code !== null;
    return {
      code: this.code,
      source: this.source,
      verifiedByMe: this.verifiedByMe,
      verifiedByThem,
      theirMarkDiffers: !!this.theirMark?.verified && this.code !== null && this.theirMark.code !== this.code,
      changed: this.changed,
    };
  }

  /** Set or take back this person's mark (ignored until there is a number); the other person is told. */
  setVerified(verified: boolean): void {
    if (!this.code) return;
    this.verifiedByMe = verified;
    this.sendMark();
    this.render();
  }

  peerCreated(): void {
    this.generation++;
    this.code = null;
    this.source = null;
    this.render();
  }

  peerConnectionState(peer: PeerSession, state: RTCPeerConnectionState): void {
    if (state === 'connected') void this.derive(peer);
  }

  otherArrived(): void {
    if (this.code && this.verifiedByMe) this.sendMark();
  }

  otherLeft(): void {
    this.reset();
  }

  left(): void {
    this.reset();
  }

  message(data: ExtensionMessage): void {
    if (data.type !== 'verified') return;
    this.theirMark = data;
    this.render();
  }

  private async derive(peer: PeerSession, attempt = 0): Promise<void> {
    const generation = this.generation;
    try {
      const used = await fingerprintsInUse(peer.pc);
      if (!used) return;
      if (used.source === 'sdp' && attempt < CERTIFICATE_RETRIES && typeof RTCDtlsTransport !== 'undefined' && 'getRemoteCertificates' in RTCDtlsTransport.prototype) {
        // `connected` can come a moment before the DTLS transport exposes the peer's certificate:
        // look again, so the number comes from the handshake when the browser can tell.
        setTimeout(() => {
          if (generation === this.generation && !peer.closed) void this.derive(peer, attempt + 1);
        }, CERTIFICATE_RETRY_MS);
      }
      const code = await safetyNumber(used.local, used.remote);
      if (generation !== this.generation || peer.closed || (code === this.code && used.source === this.source)) return;
      if (code === this.code) {
        this.source = used.source;
        this.render();
        return;
      }
      this.log(`safety number ${code} (remote fingerprint from the ${used.source === 'certificate' ? 'DTLS certificate' : 'remote description'})`);
      if (this.lastCode !== null && this.lastCode !== code) {
        // A new connection with new keys: earlier comparisons say nothing about it.
        this.changed = true;
        if (this.theirMark?.code === this.lastCode) this.theirMark = null;
        if (this.verifiedByMe) {
          this.verifiedByMe = false;
          this.call.sendRoomMessage({ type: 'verified', code: this.lastCode, verified: false });
        }
      }
      this.code = code;
      this.source = used.source;
      this.lastCode = code;
      this.render();
    } catch (err) {
      this.log(`could not derive the safety number: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private sendMark(): void {
    if (this.code) this.call.sendRoomMessage({ type: 'verified', code: this.code, verified: this.verifiedByMe });
  }

  private reset(): void {
    this.generation++;
    this.code = this.source = this.lastCode = null;
    this.theirMark = null;
    this.verifiedByMe = this.changed = false;
    this.render();
  }

  private render(): void {
    this.view.show(this.state);
  }
}
