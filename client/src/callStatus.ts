/**
 * What the page says about the call: its phase (idle → starting → waiting → connecting →
 * connected, reconnecting, failed) and the sentence for each event, in one place. The warning
 * line keeps the call's standing warning (media or ICE-server problems, relay-only mode) unless
 * a signaling problem is shown there for a while. No DOM: it writes through the {@link CallView}.
 */
import type { CallView, StatusKind } from './callView.js';
import { msg, type Msg } from './i18n/index.js';
import type { AcquireStep } from './localMedia.js';
import type { RecoveryState, RecoveryStatus } from './recovery.js';

/** Where the call stands, as far as the page tells it. */
export type CallPhase = 'idle' | 'starting' | 'waiting' | 'connecting' | 'connected' | 'reconnecting' | 'failed';

/** The call's status line and warning line (see the module comment). */
export class CallStatus {
  private current: CallPhase = 'idle';
  /** Warning that stays for the whole call (whole sentences). */
  private standingWarning: Msg[] = [];

  /**
   * @param view     where the lines go.
   * @param haveTurn whether the call has a TURN server (the never-connected failure says so).
   */
  constructor(
    private readonly view: Pick<CallView, 'status' | 'warning' | 'phaseChanged'>,
    private readonly haveTurn: () => boolean,
  ) {}

  /** Where the call stands; the view is told of every change. */
  get phase(): CallPhase {
    return this.current;
  }

  set phase(phase: CallPhase) {
    if (phase === this.current) return;
    this.current = phase;
    this.view.phaseChanged?.(phase);
  }

  /** A line that does not change the phase. */
  say(text: Msg, kind: StatusKind = 'info'): void {
    this.view.status(text, kind);
  }

  invalidRoom(): void {
    this.say(msg('room.invalid'), 'error');
  }

  /** A step of Join. */
  starting(step: AcquireStep | 'network' | 'server'): void {
    this.phase = 'starting';
    const text = {
      'choose-screen': msg('status.chooseScreen'),
      'open-devices': msg('status.openDevices'),
      network: msg('status.network'),
      server: msg('status.server'),
    }[step];
    this.say(text);
  }

  /** The call ended or never started (`text` says why); clears the warning line. */
  ended(text: Msg, kind: StatusKind = 'info'): void {
    this.phase = 'idle';
    this.setStandingWarning([]);
    this.say(text, kind);
  }

  /** Set the warning that stays for the whole call: whole sentences (none for an empty list). */
  setStandingWarning(sentences: readonly Msg[]): void {
    this.standingWarning = [...sentences];
    this.view.warning(this.standingWarning);
  }

  /** Seated again: a signaling problem on the warning line is over. */
  seated(): void {
    this.view.warning(this.standingWarning);
  }

  waiting(otherLeft = false): void {
    this.phase = 'waiting';
    this.say(otherLeft ? msg('status.otherLeft') : msg('status.waiting'));
  }

  /** "Connecting…", unless the phase is one of `keep` (e.g. a repair or the failure message is shown). */
  connecting(keep: readonly CallPhase[] = []): void {
    if (keep.includes(this.phase)) return;
    this.phase = 'connecting';
    this.say(msg('status.connecting'));
  }

  /** What recovery reports (recovery.ts). */
  recovery(s: RecoveryStatus): void {
    switch (s.kind) {
      case 'connected':
        this.phase = 'connected';
        this.say(msg('status.connected'), 'ok');
        return;
      case 'reconnecting':
        this.phase = 'reconnecting';
        this.say(s.attempt ? msg('status.reconnectingAttempt', { attempt: s.attempt }) : msg('status.reconnecting'), 'warn');
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
    this.say(msg('status.otherReconnecting'), 'warn');
  }

  // ---------------------------------------------------------------- the signaling connection
  // While the call is connected, media does not need the server: problems go to the warning line.

  signalingReconnected(): void {
    if (this.phase !== 'connected') this.say(msg('status.backOnline'));
  }

  signalingLost(): void {
    if (this.phase === 'connected') this.view.warning(msg('status.signalingLostInCall'));
    else this.say(msg('status.signalingLost'), 'warn');
  }

  serverUnreachable(): void {
    if (this.phase === 'connected') this.view.warning(msg('status.unreachableInCall'));
    else this.say(msg('status.unreachable'), 'error');
  }

  serverRestarting(): void {
    if (this.phase !== 'connected') this.say(msg('status.serverRestarting'), 'warn');
  }

  /** The failure sentences of an outage. */
  private failureText(neverConnected: boolean, gaveUp: boolean): Msg {
    if (neverConnected) {
      const base = this.haveTurn() ? msg('status.noPathWithTurn') : msg('status.noPath');
      return msg('app.twoSentences', { first: base, second: gaveUp ? msg('status.leaveAndRetry') : msg('status.stillTrying') });
    }
    return msg('status.repairFailed');
  }
}
