/**
 * What the page says about the call: its phase (idle → starting → waiting → connecting →
 * connected, reconnecting, failed) and the sentence for each event, in one place. The warning
 * line keeps the call's standing warning (media or ICE-server problems, relay-only mode) unless
 * a signaling problem is shown there for a while. No DOM: it writes through the {@link CallView}.
 */
import type { CallView, StatusKind } from './callView.js';
import type { AcquireStep } from './localMedia.js';
import type { RecoveryState, RecoveryStatus } from './recovery.js';

/** Where the call stands, as far as the page tells it. */
export type CallPhase = 'idle' | 'starting' | 'waiting' | 'connecting' | 'connected' | 'reconnecting' | 'failed';

/** The call's status line and warning line (see the module comment). */
export class CallStatus {
  phase: CallPhase = 'idle';
  /** Warning that stays for the whole call. */
  private standingWarning: string | null = null;

  /**
   * @param view     where the lines go.
   * @param haveTurn whether the call has a TURN server (the never-connected failure says so).
   */
  constructor(
    private readonly view: Pick<CallView, 'status' | 'warning'>,
    private readonly haveTurn: () => boolean,
  ) {}

  /** A line that does not change the phase. */
  say(text: string, kind: StatusKind = 'info'): void {
    this.view.status(text, kind);
  }

  invalidRoom(): void {
    this.say('The room must be a number of 1 to 12 digits.', 'error');
  }

  /** A step of Join. */
  starting(step: AcquireStep | 'network' | 'server'): void {
    this.phase = 'starting';
    const text = {
      'choose-screen': 'Choose a screen to share…',
      'open-devices': 'Starting camera and microphone…',
      network: 'Getting the network settings…',
      server: 'Connecting to the server…',
    }[step];
    this.say(text);
  }

  /** The call ended or never started (`text` says why); clears the warning line. */
  ended(text: string, kind: StatusKind = 'info'): void {
    this.phase = 'idle';
    this.setStandingWarning([]);
    this.say(text, kind);
  }

  /** Set the warning that stays for the whole call (none for an empty list). */
  setStandingWarning(parts: string[]): void {
    this.standingWarning = parts.length ? parts.join(' ') : null;
    this.view.warning(this.standingWarning);
  }

  /** Seated again: a signaling problem on the warning line is over. */
  seated(): void {
    this.view.warning(this.standingWarning);
  }

  waiting(otherLeft = false): void {
    this.phase = 'waiting';
    this.say(otherLeft ? 'The other person left. Waiting for someone to join…' : 'Waiting for the other person…');
  }

  /** "Connecting…", unless the phase is one of `keep` (e.g. a repair or the failure message is shown). */
  connecting(keep: readonly CallPhase[] = []): void {
    if (keep.includes(this.phase)) return;
    this.phase = 'connecting';
    this.say('Connecting…');
  }

  /** What recovery reports (recovery.ts). */
  recovery(s: RecoveryStatus): void {
    switch (s.kind) {
      case 'connected':
        this.phase = 'connected';
        this.say('Connected', 'ok');
        return;
      case 'reconnecting':
        this.phase = 'reconnecting';
        this.say(s.attempt ? `Reconnecting… (attempt ${s.attempt})` : 'Reconnecting…', 'warn');
        return;
      case 'failed':
        this.phase = 'failed';
        this.say(this.failureText(s.neverConnected, s.gaveUp), 'error');
        return;
    }
  }

  /** The line for a connection that stayed up across a re-join: its state, or the failure message while it is up. */
  peerState(state: RTCPeerConnectionState | undefined, r: RecoveryState): void {
    if (state === 'connected') this.recovery({ kind: 'connected' });
    else if (r.failureShown) this.recovery({ kind: 'failed', neverConnected: r.neverConnected, gaveUp: r.gaveUp });
    else if (state === 'disconnected' || state === 'failed') this.recovery({ kind: 'reconnecting' });
    else this.connecting();
  }

  otherReconnecting(): void {
    this.say('The other person is reconnecting…', 'warn');
  }

  // ---------------------------------------------------------------- the signaling connection
  // While the call is connected, media does not need the server: problems go to the warning line.

  signalingReconnected(): void {
    if (this.phase !== 'connected') this.say('Back online. Rejoining the room…');
  }

  signalingLost(): void {
    if (this.phase === 'connected') this.view.warning('Lost the connection to the server; the call goes on. Reconnecting…');
    else this.say('Lost the connection to the server. Reconnecting…', 'warn');
  }

  serverUnreachable(): void {
    if (this.phase === 'connected') this.view.warning('The server is unreachable; the call goes on. Retrying…');
    else this.say('Cannot reach the server. Retrying…', 'error');
  }

  serverRestarting(): void {
    if (this.phase !== 'connected') this.say('The server is restarting. Reconnecting…', 'warn');
  }

  /** The failure sentence of an outage. */
  private failureText(neverConnected: boolean, gaveUp: boolean): string {
    if (neverConnected) {
      const base = this.haveTurn()
        ? 'Could not connect to the other person: no network path, not even through the TURN relay (a firewall may block it).'
        : 'Could not connect to the other person: no network path (a TURN relay may be needed).';
      return gaveUp ? `${base} Leave and Join again to retry.` : `${base} Still trying…`;
    }
    return 'The connection to the other person failed and could not be repaired. A firewall may block it; try another network, or Leave and Join again.';
  }
}
