/**
 * The call controller: local media + signaling + the current {@link PeerSession}, and the rules
 * that tie them together. No DOM here; the page gives a {@link CallView}.
 *
 * Who offers:
 * - The member already in the room offers when the other joins (`otherjoin`), as in the original
 *   demo. The joiner waits for that offer (and offers itself only if none came within
 *   {@link JOINER_OFFER_FALLBACK_MS}, or right away when it took its seat back after a reload).
 * - After that either side may renegotiate (perfect negotiation, see peer.ts).
 * - An offer whose SDP `o=` session id differs from the current remote description's comes from a
 *   new peer connection on the other side (page reload, or its connection was rebuilt): the local
 *   connection is replaced by a fresh one that answers it.
 *
 * Recovery (issue 6): the impolite side restarts ICE when the connection is `disconnected` for
 * {@link DISCONNECTED_GRACE_MS} or `failed`, up to {@link ICE_RESTART_DELAYS_MS}.length times with
 * backoff; then it builds a new peer connection (once). The polite side rebuilds by itself only if
 * nothing repaired the connection within {@link POLITE_WATCHDOG_MS}.
 */
import type { JoinedInfo, MediaStateMessage, MessageData, SignalingError } from '../../server/signaling/protocol.js';
import { fetchIceServers } from './iceServers.js';
import { MediaError, openCamera, openCameraAndMicrophone, openMicrophone, openScreen, stopStream } from './media.js';
import { PeerSession, sdpSessionId, type NegotiationCounters } from './peer.js';
import { Signaling, sessionToken } from './signaling.js';

/** Status severities, for styling. */
export type StatusKind = 'info' | 'ok' | 'warn' | 'error';

/** Our own media state, as sent to the other person. */
export type LocalMediaState = Omit<MediaStateMessage, 'type'>;

/** What the controller shows; implemented by the page (ui.ts). */
export interface CallView {
  status(text: string, kind?: StatusKind): void;
  /** A persistent warning under the status (null clears it). */
  warning(text: string | null): void;
  localVideo(stream: MediaStream | null): void;
  remoteVideo(stream: MediaStream | null): void;
  /** True from Join until Leave/full/fatal error. */
  inRoom(inRoom: boolean): void;
  /** The other person's media state (null: nobody there / unknown). */
  remoteMediaState(state: LocalMediaState | null): void;
  localMediaState(state: LocalMediaState): void;
  chatState(open: boolean): void;
  chatMessage(from: 'me' | 'them', text: string, sentAt: number): void;
  /** The set of local devices may have changed (after getUserMedia). */
  devicesChanged?(): void;
}

/** What {@link Call.join} needs. */
export interface JoinRequest {
  room: string;
  /** Send the screen instead of the camera from the start. */
  shareDesktop: boolean;
  /** `iceTransportPolicy: 'relay'` (URL `?relay=1`). */
  relayOnly: boolean;
}

/** How long the joiner waits for the offer before offering itself, ms. */
export const JOINER_OFFER_FALLBACK_MS = 3000;
/** How long `disconnected` may last before the impolite side restarts ICE, ms. */
export const DISCONNECTED_GRACE_MS = 3000;
/** Delays before ICE restart attempts 1, 2, 3 (ms); afterwards a new connection is built. */
export const ICE_RESTART_DELAYS_MS = [0, 2000, 4000];
/** How long one ICE restart may take before the next step, ms. */
export const ICE_RESTART_TIMEOUT_MS = 8000;
/** Rebuilds (new peer connection) allowed per outage before giving up. */
export const MAX_REBUILDS = 2;
/** The polite side rebuilds the connection if it stays broken this long, ms. */
export const POLITE_WATCHDOG_MS = 25_000;

/** sessionStorage key remembering the room of this tab, so a reload takes the seat back. */
const ACTIVE_KEY = 'webrtc-call-active';

/** The room this tab was in before a reload, if any. */
export function rememberedRoom(): { room: string; relayOnly: boolean } | undefined {
  try {
    const raw = sessionStorage.getItem(ACTIVE_KEY);
    if (!raw) return undefined;
    const v = JSON.parse(raw) as { room?: unknown; relayOnly?: unknown };
    return typeof v.room === 'string' && /^\d{1,12}$/.test(v.room) ? { room: v.room, relayOnly: v.relayOnly === true } : undefined;
  } catch {
    return undefined;
  }
}

function remember(v: { room: string; relayOnly: boolean } | null): void {
  try {
    if (v) sessionStorage.setItem(ACTIVE_KEY, JSON.stringify(v));
    else sessionStorage.removeItem(ACTIVE_KEY);
  } catch {
    /* storage disabled */
  }
}

/** One person's side of a 1-to-1 call. */
export class Call {
  signaling: Signaling | null = null;
  peer: PeerSession | null = null;
  room: string | undefined;
  polite = true;
  /** True while the other person holds the other seat (as far as we know). */
  otherPresent = false;
  readonly mediaState: LocalMediaState = { audioMuted: false, videoOff: false, screen: false };
  /** Negotiation counters summed over every peer connection of this page. */
  readonly totals: NegotiationCounters & { peerConnections: number; rebuilds: number } = {
    offersSent: 0,
    answersSent: 0,
    offersReceived: 0,
    answersReceived: 0,
    candidatesSent: 0,
    candidatesReceived: 0,
    candidatesQueued: 0,
    offersIgnored: 0,
    rollbacks: 0,
    iceRestarts: 0,
    errors: 0,
    peerConnections: 0,
    rebuilds: 0,
  };
  /** Human-readable event log (newest last, bounded), for debugging and tests. */
  readonly eventLog: string[] = [];
  audioTrack: MediaStreamTrack | null = null;
  cameraTrack: MediaStreamTrack | null = null;
  screenTrack: MediaStreamTrack | null = null;
  audioDeviceId: string | undefined;
  videoDeviceId: string | undefined;

  private localStream = new MediaStream();
  /** Warning that stays for the whole call (media/ICE server problems, relay-only mode). */
  private baseWarning: string | null = null;
  private iceServers: RTCIceServer[] = [];
  private relayOnly = false;
  private offerFallbackTimer: ReturnType<typeof setTimeout> | undefined;
  private disconnectedTimer: ReturnType<typeof setTimeout> | undefined;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private politeWatchdog: ReturnType<typeof setTimeout> | undefined;
  private restartAttempts = 0;
  private rebuildsThisOutage = 0;
  private phase: 'idle' | 'starting' | 'waiting' | 'connecting' | 'connected' | 'reconnecting' | 'failed' = 'idle';
  /** True from `otherreconnecting` until the other person is back (or gone). */
  otherReconnecting = false;
  private joinGeneration = 0;

  constructor(private readonly view: CallView) {}

  /** True from Join until Leave (or a refusal). */
  get inRoom(): boolean {
    return this.room !== undefined;
  }

  /** The track currently sent as video (screen or camera), if any. */
  get videoTrack(): MediaStreamTrack | null {
    return this.screenTrack ?? this.cameraTrack;
  }

  /**
   * Open media, fetch ICE servers and join the room.
   * Errors are reported through the view (status), never thrown.
   */
  async join(req: JoinRequest): Promise<void> {
    if (this.inRoom) return;
    if (!/^\d{1,12}$/.test(req.room)) {
      this.view.status('The room must be a number of 1 to 12 digits.', 'error');
      return;
    }
    const generation = ++this.joinGeneration;
    this.room = req.room;
    this.relayOnly = req.relayOnly;
    this.phase = 'starting';
    this.view.inRoom(true);
    this.setBaseWarning(null);
    const icePromise = fetchIceServers();
    const warnings: string[] = [];
    if (req.relayOnly) warnings.push('Relay only (?relay=1): the call goes through the TURN server.');

    try {
      if (req.shareDesktop) {
        // getDisplayMedia first: it needs the click's user activation.
        try {
          this.view.status('Choose a screen to share…');
          this.screenTrack = await openScreen();
          this.watchScreenEnd(this.screenTrack);
          this.mediaState.screen = true;
        } catch (err) {
          warnings.push(`${err instanceof Error ? err.message : String(err)} Using the camera instead.`);
        }
      }
      this.view.status('Starting camera and microphone…');
      if (this.screenTrack) {
        try {
          this.audioTrack = await openMicrophone(this.audioDeviceId);
        } catch (err) {
          warnings.push(`${err instanceof Error ? err.message : String(err)} Calling without sound.`);
        }
      } else {
        const { stream, warning } = await openCameraAndMicrophone({ audioDeviceId: this.audioDeviceId, videoDeviceId: this.videoDeviceId });
        if (warning) warnings.push(warning);
        this.audioTrack = stream.getAudioTracks()[0] ?? null;
        this.cameraTrack = stream.getVideoTracks()[0] ?? null;
      }
    } catch (err) {
      if (generation !== this.joinGeneration) return;
      this.stopLocalMedia();
      this.mediaState.screen = false;
      this.room = undefined;
      this.phase = 'idle';
      this.view.inRoom(false);
      this.view.status(err instanceof MediaError ? err.message : `Could not start the camera or microphone: ${String(err)}`, 'error');
      return;
    }
    if (generation !== this.joinGeneration) {
      this.stopLocalMedia();
      return;
    }
    this.rebuildLocalStream();
    this.view.devicesChanged?.();
    this.view.localMediaState({ ...this.mediaState });

    this.view.status('Getting the network settings…');
    const ice = await icePromise;
    if (generation !== this.joinGeneration) return;
    this.iceServers = ice.iceServers;
    if (ice.warning) warnings.push(ice.warning);
    this.setBaseWarning(warnings.length ? warnings.join(' ') : null);

    this.view.status('Connecting to the server…');
    remember({ room: req.room, relayOnly: req.relayOnly });
    const signaling = new Signaling({ session: sessionToken() });
    this.signaling = signaling;
    this.wireSignaling(signaling);
    signaling.join(req.room);
  }

  /** Leave the room: `leave` to the server, close the connection, stop local media, reset. */
  leave(statusText = 'You left the call.'): void {
    this.joinGeneration++;
    remember(null);
    this.signaling?.leave();
    this.signaling?.close();
    this.signaling = null;
    this.closePeer();
    this.stopLocalMedia();
    this.room = undefined;
    this.otherPresent = false;
    this.phase = 'idle';
    this.mediaState.audioMuted = false;
    this.mediaState.videoOff = false;
    this.mediaState.screen = false;
    this.view.remoteMediaState(null);
    this.view.localMediaState({ ...this.mediaState });
    this.view.inRoom(false);
    this.setBaseWarning(null);
    this.view.status(statusText);
  }

  private setBaseWarning(text: string | null): void {
    this.baseWarning = text;
    this.view.warning(text);
  }

  /**
   * Fetch fresh ICE servers (TURN REST credentials expire) and give them to the current
   * connection, before an ICE restart or a rebuild. Keeps the old ones when the fetch fails.
   */
  private async refreshIceServers(): Promise<void> {
    const ice = await fetchIceServers(undefined, 3000);
    if (ice.warning) return;
    this.iceServers = ice.iceServers;
    const pc = this.peer?.pc;
    if (pc && pc.connectionState !== 'closed') {
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: ice.iceServers });
      } catch (err) {
        this.log(`could not update the ICE servers: ${String(err)}`);
      }
    }
  }

  // ---------------------------------------------------------------- signaling

  private wireSignaling(s: Signaling): void {
    s.events = {
      connected: (reconnect) => {
        this.log(reconnect ? 'signaling reconnected' : 'signaling connected');
        if (reconnect && this.phase !== 'connected') this.view.status('Back online. Rejoining the room…');
      },
      disconnected: (reason) => {
        this.log(`signaling disconnected: ${reason}`);
        if (!this.inRoom) return;
        if (this.phase === 'connected') this.view.warning('Lost the connection to the server; the call goes on. Reconnecting…');
        else this.view.status('Lost the connection to the server. Reconnecting…', 'warn');
      },
      connectError: (err) => {
        this.log(`cannot reach the server: ${err.message}`);
        if (!this.inRoom) return;
        if (this.phase === 'connected') this.view.warning('The server is unreachable; the call goes on. Retrying…');
        else this.view.status('Cannot reach the server. Retrying…', 'error');
      },
      evicted: () => {
        this.log('seat taken over by another connection of this session');
        this.leave('This call continues in another tab or window of this browser.');
        this.view.status('This call continues in another tab or window of this browser.', 'warn');
      },
      restarting: () => {
        this.log('server restarting');
        if (this.phase !== 'connected') this.view.status('The server is restarting. Reconnecting…', 'warn');
      },
      joined: (room, id, info) => this.onJoined(room, id, info),
      otherJoined: (_room, id) => this.onOtherJoined(id),
      full: (room) => {
        this.log(`room ${room} is full`);
        this.leave(`Room ${room} is full. Try another room number.`);
        this.view.status(`Room ${room} is full. Try another room number.`, 'error');
      },
      bye: () => this.onBye(),
      otherReconnecting: (_room, _id, graceMs) => {
        this.otherReconnecting = true;
        this.log(`other person reconnecting (seat held ${graceMs} ms)`);
        this.view.status('The other person is reconnecting…', 'warn');
      },
      message: (data) => this.onMessage(data),
      error: (err) => this.onSignalingError(err),
    };
  }

  private onJoined(room: string, id: string, info: JoinedInfo | undefined): void {
    this.log(`joined room ${room} as ${id} ${JSON.stringify(info ?? {})}`);
    if (this.signaling?.connected) this.view.warning(this.baseWarning);
    this.polite = info?.polite ?? true;
    if (this.peer) this.peer.polite = this.polite;
    const live = this.hasLivePeer();
    if (info && info.members >= 2) {
      this.otherPresent = true;
      this.sendMediaState();
      if (live) {
        this.showPeerState();
      } else if (info.resumed) {
        // We took our seat back after a reload: the other side still has its old connection.
        this.replacePeer(true);
      } else {
        this.phase = 'connecting';
        this.view.status('Connecting…');
        this.armOfferFallback();
      }
    } else if (live) {
      this.showPeerState();
    } else {
      this.phase = 'waiting';
      this.view.status('Waiting for the other person…');
    }
  }

  private onOtherJoined(id: string): void {
    this.log(`other person joined: ${id}`);
    this.otherPresent = true;
    this.otherReconnecting = false;
    this.polite = false;
    if (this.peer) this.peer.polite = false;
    this.sendMediaState();
    if (this.hasLivePeer()) {
      // Same person back after a signaling drop: keep the working connection. If it was a
      // reload, their new connection's offer replaces ours (new o= session id).
      this.showPeerState();
      return;
    }
    this.replacePeer(true);
  }

  private onBye(): void {
    if (!this.inRoom) return;
    this.log('other person left');
    this.otherPresent = false;
    this.otherReconnecting = false;
    this.closePeer();
    this.view.remoteMediaState(null);
    this.phase = 'waiting';
    this.view.status('The other person left. Waiting for someone to join…');
  }

  private onSignalingError(err: SignalingError): void {
    this.log(`server refused ${err.event}: ${err.code} ${err.reason}`);
    if (err.event === 'join' && err.code !== 'already-joined' && err.code !== 'rate-limited') {
      this.leave(`The server refused to join: ${err.reason}`);
      this.view.status(`The server refused to join: ${err.reason}`, 'error');
    }
  }

  private onMessage(data: MessageData): void {
    if (data === 'bye') {
      this.onBye();
      return;
    }
    switch (data.type) {
      case 'offer': {
        this.otherPresent = true;
        this.otherReconnecting = false;
        this.clearOfferFallback();
        const sid = sdpSessionId(data.sdp);
        if (!this.peer || this.peer.closed) {
          this.createPeer(false);
        } else if (this.peer.remoteSessionId !== undefined && sid !== undefined && sid !== this.peer.remoteSessionId) {
          this.log('offer from a new connection of the other person: replacing ours');
          this.sendMediaState();
          this.createPeer(false);
        }
        if (this.phase !== 'connected') {
          this.phase = 'connecting';
          this.view.status('Connecting…');
        }
        void this.peer!.handleDescription(data);
        return;
      }
      case 'answer': {
        const peer = this.peer;
        if (!peer || peer.closed) return;
        const sid = sdpSessionId(data.sdp);
        if (peer.remoteSessionId !== undefined && sid !== undefined && sid !== peer.remoteSessionId) {
          this.log('dropping an answer for an older connection');
          return;
        }
        void peer.handleDescription(data);
        return;
      }
      case 'candidate':
        if (this.peer && !this.peer.closed) void this.peer.handleCandidate(data);
        return;
      case 'state':
        this.view.remoteMediaState({ audioMuted: data.audioMuted, videoOff: data.videoOff, screen: data.screen });
        return;
    }
  }

  // ---------------------------------------------------------------- peer connection

  /** A connection that may still carry (or recover) the call. */
  private hasLivePeer(): boolean {
    const p = this.peer;
    return !!p && !p.closed && p.pc.remoteDescription !== null && p.pc.connectionState !== 'failed' && p.pc.connectionState !== 'closed';
  }

  /** Close the current connection (if any) and make a new one; `offer` = add tracks now (→ offer). */
  private replacePeer(offer: boolean): void {
    this.createPeer(offer);
    if (offer) {
      this.phase = 'connecting';
      this.view.status('Connecting…');
    }
  }

  private createPeer(addTracksNow: boolean): void {
    this.closePeer();
    const configuration: RTCConfiguration = {
      iceServers: this.iceServers,
      iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    };
    const peer: PeerSession = new PeerSession({
      configuration,
      polite: this.polite,
      audioTrack: this.audioTrack,
      videoTrack: this.mediaState.videoOff ? null : this.videoTrack,
      localStream: this.localStream,
      addTracksNow,
      callbacks: {
        send: (data, stale) => this.signaling?.send(data, stale),
        remoteStream: (stream) => {
          if (this.peer === peer) this.view.remoteVideo(stream);
        },
        connectionState: (state) => {
          if (this.peer === peer) this.onConnectionState(peer, state);
        },
        chatState: (open) => {
          if (this.peer === peer || !open) this.view.chatState(open && this.peer === peer);
        },
        chatMessage: (text, sentAt) => this.view.chatMessage('them', text, sentAt),
        log: (msg) => this.log(msg),
      },
    });
    this.peer = peer;
    this.totals.peerConnections++;
    this.log(`new peer connection #${peer.number} (${this.polite ? 'polite' : 'impolite'}, ${addTracksNow ? 'offering' : 'answering'})`);
  }

  private closePeer(): void {
    this.clearOfferFallback();
    this.clearRecoveryTimers();
    const p = this.peer;
    if (!p) return;
    this.peer = null;
    for (const k of Object.keys(this.totals) as (keyof NegotiationCounters)[]) {
      if (k in p.counters) this.totals[k] += p.counters[k];
    }
    p.close();
    this.view.remoteVideo(null);
    this.view.chatState(false);
  }

  /** Counters of every connection so far plus the current one. */
  counters(): NegotiationCounters & { peerConnections: number; rebuilds: number } {
    const sum = { ...this.totals };
    if (this.peer) for (const k of Object.keys(this.peer.counters) as (keyof NegotiationCounters)[]) sum[k] += this.peer.counters[k];
    return sum;
  }

  private showPeerState(): void {
    const state = this.peer?.pc.connectionState;
    if (state === 'connected') {
      this.phase = 'connected';
      this.view.status('Connected', 'ok');
    } else if (state === 'disconnected' || state === 'failed') {
      this.phase = 'reconnecting';
      this.view.status('Reconnecting…', 'warn');
    } else {
      this.phase = 'connecting';
      this.view.status('Connecting…');
    }
  }

  private onConnectionState(peer: PeerSession, state: RTCPeerConnectionState): void {
    this.log(`connection ${state}`);
    switch (state) {
      case 'connecting':
        if (this.phase !== 'reconnecting') {
          this.phase = 'connecting';
          this.view.status('Connecting…');
        }
        break;
      case 'connected':
        this.clearRecoveryTimers();
        this.restartAttempts = 0;
        this.rebuildsThisOutage = 0;
        this.otherReconnecting = false;
        this.phase = 'connected';
        this.view.status('Connected', 'ok');
        break;
      case 'disconnected':
        this.phase = 'reconnecting';
        this.view.status('Reconnecting…', 'warn');
        if (!peer.polite && !this.disconnectedTimer) {
          this.disconnectedTimer = setTimeout(() => {
            this.disconnectedTimer = undefined;
            if (this.peer === peer && peer.pc.connectionState === 'disconnected') this.recover(peer);
          }, DISCONNECTED_GRACE_MS);
        }
        this.armPoliteWatchdog(peer);
        break;
      case 'failed':
        this.phase = 'reconnecting';
        this.view.status('Reconnecting…', 'warn');
        if (!peer.polite) {
          if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
          this.disconnectedTimer = undefined;
          if (!this.restartTimer) this.recover(peer);
        }
        this.armPoliteWatchdog(peer);
        break;
      default:
        break;
    }
  }

  /** Impolite side: next recovery step (ICE restart with backoff, then a new connection). */
  private recover(peer: PeerSession): void {
    if (this.peer !== peer || peer.closed) return;
    if (this.restartAttempts < ICE_RESTART_DELAYS_MS.length) {
      const delay = ICE_RESTART_DELAYS_MS[this.restartAttempts]!;
      this.restartAttempts++;
      const attempt = this.restartAttempts;
      this.restartTimer = setTimeout(() => {
        if (this.peer !== peer || peer.pc.connectionState === 'connected') {
          this.restartTimer = undefined;
          return;
        }
        this.log(`ICE restart attempt ${attempt}/${ICE_RESTART_DELAYS_MS.length}`);
        this.view.status(`Reconnecting… (attempt ${attempt})`, 'warn');
        // Keep the timer slot taken while the fresh credentials are fetched.
        this.restartTimer = setTimeout(() => undefined, ICE_RESTART_TIMEOUT_MS);
        void this.refreshIceServers().then(() => {
          if (this.peer !== peer || peer.closed) return;
          peer.restartIce();
          if (this.restartTimer) clearTimeout(this.restartTimer);
          // Done when the restart's offer/answer is through and the connection is up (the state
          // may never have left "connected", so poll instead of waiting for an event).
          const started = Date.now();
          const poll = () => {
            this.restartTimer = undefined;
            if (this.peer !== peer || peer.closed) return;
            if (peer.pc.connectionState === 'connected' && peer.pc.signalingState === 'stable') {
              this.onConnectionState(peer, 'connected');
            } else if (Date.now() - started >= ICE_RESTART_TIMEOUT_MS) {
              this.recover(peer);
            } else {
              this.restartTimer = setTimeout(poll, 250);
            }
          };
          this.restartTimer = setTimeout(poll, 250);
        });
      }, delay);
      return;
    }
    this.rebuild();
  }

  /** Replace a connection that could not be repaired, or give up after {@link MAX_REBUILDS}. */
  private rebuild(): void {
    if (this.rebuildsThisOutage >= MAX_REBUILDS) {
      this.clearRecoveryTimers();
      this.phase = 'failed';
      this.view.status(
        'The connection to the other person failed and could not be repaired. A firewall may block it; try another network, or Leave and Join again.',
        'error',
      );
      return;
    }
    this.rebuildsThisOutage++;
    this.totals.rebuilds++;
    this.restartAttempts = 0;
    this.log('building a new peer connection');
    const rebuilds = this.rebuildsThisOutage;
    this.createPeer(true);
    void this.refreshIceServers();
    this.rebuildsThisOutage = rebuilds;
    this.phase = 'reconnecting';
    this.view.status('Reconnecting…', 'warn');
    // If the new connection does not come up either, try again (capped).
    const peer = this.peer!;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.peer === peer && peer.pc.connectionState !== 'connected') {
        if (peer.polite) this.rebuild();
        else this.recover(peer);
      }
    }, ICE_RESTART_TIMEOUT_MS * 2);
  }

  private armPoliteWatchdog(peer: PeerSession): void {
    if (!peer.polite || this.politeWatchdog) return;
    this.politeWatchdog = setTimeout(() => {
      this.politeWatchdog = undefined;
      if (this.peer === peer && peer.pc.connectionState !== 'connected' && this.otherPresent) {
        this.log('connection still broken: polite side rebuilds');
        this.rebuild();
      }
    }, POLITE_WATCHDOG_MS);
  }

  private clearRecoveryTimers(): void {
    for (const t of [this.disconnectedTimer, this.restartTimer, this.politeWatchdog]) if (t) clearTimeout(t);
    this.disconnectedTimer = this.restartTimer = this.politeWatchdog = undefined;
  }

  private armOfferFallback(): void {
    this.clearOfferFallback();
    this.offerFallbackTimer = setTimeout(() => {
      this.offerFallbackTimer = undefined;
      if (this.inRoom && this.otherPresent && !this.peer) {
        this.log('no offer arrived: offering ourselves');
        this.replacePeer(true);
      }
    }, JOINER_OFFER_FALLBACK_MS);
  }

  private clearOfferFallback(): void {
    if (this.offerFallbackTimer) clearTimeout(this.offerFallbackTimer);
    this.offerFallbackTimer = undefined;
  }

  // ---------------------------------------------------------------- local media and controls

  private rebuildLocalStream(): void {
    const tracks = [this.audioTrack, this.videoTrack].filter((t): t is MediaStreamTrack => t !== null);
    for (const t of this.localStream.getTracks()) if (!tracks.includes(t)) this.localStream.removeTrack(t);
    for (const t of tracks) if (!this.localStream.getTracks().includes(t)) this.localStream.addTrack(t);
    const video = this.videoTrack;
    this.view.localVideo(video ? new MediaStream([video]) : null);
  }

  private stopLocalMedia(): void {
    this.audioTrack?.stop();
    this.cameraTrack?.stop();
    this.screenTrack?.stop();
    stopStream(this.localStream);
    this.audioTrack = this.cameraTrack = this.screenTrack = null;
    this.localStream = new MediaStream();
    this.view.localVideo(null);
  }

  private sendMediaState(): void {
    this.signaling?.send({ type: 'state', ...this.mediaState });
  }

  private mediaStateChanged(): void {
    this.view.localMediaState({ ...this.mediaState });
    if (this.otherPresent) this.sendMediaState();
  }

  /** Mute or unmute the microphone (`track.enabled`); the other side is told. */
  setMuted(muted: boolean): void {
    this.mediaState.audioMuted = muted;
    if (this.audioTrack) this.audioTrack.enabled = !muted;
    this.mediaStateChanged();
  }

  /**
   * Turn the outgoing video (camera or screen) off or on; the other side is told. Off = the track
   * is disabled (`track.enabled = false`, the preview goes black) and the sender sends nothing
   * (`replaceTrack(null)`: Chromium would otherwise keep sending black frames at full rate), so
   * the far side's frames stop. No renegotiation either way.
   */
  setVideoOff(off: boolean): void {
    this.mediaState.videoOff = off;
    const v = this.videoTrack;
    if (v) v.enabled = !off;
    void this.peer?.replaceTrack('video', off ? null : v);
    this.mediaStateChanged();
  }

  /**
   * Send the screen instead of the camera (or back), with `RTCRtpSender.replaceTrack`: no
   * renegotiation. Must be called from a click when turning sharing on.
   * @returns an error sentence, or undefined on success.
   */
  async setScreenSharing(on: boolean): Promise<string | undefined> {
    if (!this.inRoom) return 'Join a room first.';
    if (on === (this.screenTrack !== null)) return undefined;
    try {
      if (on) {
        const screen = await openScreen();
        screen.enabled = !this.mediaState.videoOff;
        this.watchScreenEnd(screen);
        const oldCamera = this.cameraTrack;
        this.screenTrack = screen;
        this.cameraTrack = null;
        await this.peer?.replaceTrack('video', this.mediaState.videoOff ? null : screen);
        oldCamera?.stop();
      } else {
        const camera = await openCamera(this.videoDeviceId);
        camera.enabled = !this.mediaState.videoOff;
        const oldScreen = this.screenTrack;
        this.cameraTrack = camera;
        this.screenTrack = null;
        await this.peer?.replaceTrack('video', this.mediaState.videoOff ? null : camera);
        oldScreen?.stop();
      }
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      this.mediaState.screen = this.screenTrack !== null;
      this.rebuildLocalStream();
      this.mediaStateChanged();
    }
    return undefined;
  }

  private watchScreenEnd(track: MediaStreamTrack): void {
    // The person pressed "Stop sharing" in the browser's bar: the camera comes back.
    track.addEventListener('ended', () => {
      if (this.screenTrack === track) {
        this.log('screen sharing ended by the browser');
        void this.setScreenSharing(false).then((err) => {
          if (err) this.view.warning(err);
        });
      }
    });
  }

  /**
   * Use another microphone (`deviceId`), replacing the sent track without renegotiation.
   * @returns an error sentence, or undefined on success.
   */
  async selectMicrophone(deviceId: string): Promise<string | undefined> {
    this.audioDeviceId = deviceId || undefined;
    if (!this.inRoom || !this.audioTrack) return undefined;
    try {
      const track = await openMicrophone(this.audioDeviceId);
      track.enabled = !this.mediaState.audioMuted;
      const old = this.audioTrack;
      this.audioTrack = track;
      await this.peer?.replaceTrack('audio', track);
      old.stop();
      this.rebuildLocalStream();
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    return undefined;
  }

  /**
   * Use another camera (`deviceId`); while the screen is shared it is used when sharing stops.
   * @returns an error sentence, or undefined on success.
   */
  async selectCamera(deviceId: string): Promise<string | undefined> {
    this.videoDeviceId = deviceId || undefined;
    if (!this.inRoom || this.screenTrack || !this.cameraTrack) return undefined;
    try {
      const track = await openCamera(this.videoDeviceId);
      track.enabled = !this.mediaState.videoOff;
      const old = this.cameraTrack;
      this.cameraTrack = track;
      await this.peer?.replaceTrack('video', this.mediaState.videoOff ? null : track);
      old.stop();
      this.rebuildLocalStream();
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    return undefined;
  }

  /**
   * Send a chat message over the data channel and show it locally.
   * @returns false when the chat is not connected (or the text is empty/too long).
   */
  sendChat(text: string): boolean {
    const sentAt = Date.now();
    if (!this.peer || !this.peer.sendChat(text, sentAt)) return false;
    this.view.chatMessage('me', text, sentAt);
    return true;
  }

  private log(msg: string): void {
    const line = `${new Date().toISOString().slice(11, 23)} ${msg}`;
    this.eventLog.push(line);
    if (this.eventLog.length > 300) this.eventLog.shift();
    if (!msg.startsWith('[pc')) console.log(`[call] ${msg}`);
  }
}
