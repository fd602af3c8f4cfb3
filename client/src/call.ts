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
 * Recovery (issue 6). An "outage" begins when the connection goes `disconnected` or `failed` and
 * ends only when a connection of this call is `connected` again (or the other person leaves, or we
 * do). Its budget ({@link ICE_RESTART_DELAYS_MS}.length ICE restarts, {@link MAX_REBUILDS}
 * rebuilds and a deadline) belongs to the outage, not to one peer connection: the other side's
 * rebuild or ICE restart does not reset it.
 * - A call that had connected: the impolite side restarts ICE (RFC 8445 §9) when the connection
 *   is `disconnected` for {@link DISCONNECTED_GRACE_MS} or `failed`, with backoff, then builds a
 *   new peer connection; the polite side rebuilds by itself only if nothing repaired the
 *   connection within {@link POLITE_WATCHDOG_MS}. At the latest {@link OUTAGE_GIVE_UP_MS} after
 *   the outage began, both stop trying and say the connection failed.
 * - A call that never connected: the first `failed` (or {@link CONNECT_TIMEOUT_MS} without
 *   `connected`) shows the failure at once on each side ("no network path, a TURN relay may be
 *   needed"); the impolite side still retries in the background for
 *   {@link NEVER_CONNECTED_RETRY_MS}, starting {@link NEVER_CONNECTED_RETRY_DELAY_MS} after the
 *   failure (so the other side sees its own `failed` first). The failure message stays until a
 *   connection comes up.
 * - Signaling: messages the server did not acknowledge before a Socket.IO drop are sent again
 *   after the re-join (signaling.ts); when the other person re-joins, an offer of ours still
 *   waiting for its answer is sent again (it may have been relayed to nobody).
 */
import type { JoinedInfo, MediaStateMessage, MessageData, SignalingError } from '../../contracts/signaling.js';
import { fetchIceServers } from './iceServers.js';
import { MediaError, openCamera, openCameraAndMicrophone, openMicrophone, openScreen, stopStream } from './media.js';
import { PeerSession, sdpSessionId, zeroNegotiationCounters, type NegotiationCounters } from './peer.js';
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
export const DISCONNECTED_GRACE_MS = 1500;
/** Delays before ICE restart attempts 1, 2, 3 of one outage (ms); afterwards a new connection is built. */
export const ICE_RESTART_DELAYS_MS = [0, 2000, 4000];
/** How long one ICE restart may take (offer/answer through and `connected`) before the next step, ms. */
export const ICE_RESTART_TIMEOUT_MS = 6000;
/** How long a rebuilt connection may take to connect before the next step, ms. */
export const REBUILD_TIMEOUT_MS = 12_000;
/** Rebuilds (new peer connection) allowed per outage, by each side. */
export const MAX_REBUILDS = 1;
/** The polite side rebuilds the connection if it stays broken this long (the impolite side did not repair it), ms. */
export const POLITE_WATCHDOG_MS = 30_000;
/**
 * A call that had connected: at the latest this long after an outage began (first `disconnected`
 * or `failed`), recovery stops and the page says the connection failed, ms.
 */
export const OUTAGE_GIVE_UP_MS = 40_000;
/** A call that never connected: background retries stop this long after the first failure, ms. */
export const NEVER_CONNECTED_RETRY_MS = 30_000;
/** A call that never connected: the impolite side's first retry comes this long after `failed`, ms. */
export const NEVER_CONNECTED_RETRY_DELAY_MS = 3000;
/** A call still not connected this long after its first peer connection was made shows the failure, ms. */
export const CONNECT_TIMEOUT_MS = 30_000;

/**
 * One outage of a call (see the module comment): from the first `disconnected`/`failed` until a
 * connection is `connected` again. Exposed read-only through {@link Call.recoveryState}.
 */
interface Outage {
  /** `Date.now()` when it began. */
  startedAt: number;
  /** The call had never been connected when it began (different message and budget). */
  neverConnected: boolean;
  /** ICE restarts started by this side in this outage. */
  restarts: number;
  /** Peer connections rebuilt by this side in this outage. */
  rebuilds: number;
  /** The failure message is up (it stays until a connection comes up). */
  failureShown: boolean;
  /** Recovery stopped (budget or deadline used up). */
  gaveUp: boolean;
  /** Fires {@link Call.giveUp} at the outage's deadline. */
  deadline: ReturnType<typeof setTimeout>;
}

/** What {@link Call.recoveryState} returns (for tests and debugging). */
export interface RecoveryState {
  /** A connection of this call has been `connected` at least once. */
  connectedOnce: boolean;
  /** True during an outage. */
  inOutage: boolean;
  neverConnected: boolean;
  /** ms since the outage began (0 when none). */
  outageMs: number;
  restarts: number;
  rebuilds: number;
  failureShown: boolean;
  gaveUp: boolean;
}

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
    ...zeroNegotiationCounters(),
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
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  /** The current outage, if the connection is broken (see the module comment). */
  private outage: Outage | undefined;
  /** A connection of this call (with this other person) has been `connected` at least once. */
  private connectedOnce = false;
  /** `Date.now()` when the ICE servers were fetched, and their credentials' lifetime (s, 0: unknown). */
  private iceServersFetchedAt = 0;
  private iceServersTtl = 0;
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
    this.iceServersFetchedAt = ice.warning ? 0 : Date.now();
    this.iceServersTtl = ice.ttl;
    this.resetCallState();
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
    this.resetCallState();
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
    this.iceServersFetchedAt = Date.now();
    this.iceServersTtl = ice.ttl;
    const pc = this.peer?.pc;
    if (pc && pc.connectionState !== 'closed') {
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: ice.iceServers });
      } catch (err) {
        this.log(`could not update the ICE servers: ${String(err)}`);
      }
    }
  }

  /**
   * True when the ICE servers were fetched and their TURN REST credentials (if any) are less than
   * half-way through their lifetime (`ttl`, s).
   */
  private iceServersFresh(): boolean {
    if (this.iceServersFetchedAt === 0) return false;
    if (!this.iceServers.some((s) => s.credential !== undefined)) return true;
    return this.iceServersTtl > 0 && Date.now() - this.iceServersFetchedAt < (this.iceServersTtl * 1000) / 2;
  }

  /**
   * Resolve once the ICE servers are usable for an ICE restart or a rebuild: at once while the
   * credentials are fresh (so a restart during a network cut is not held up by a fetch that cannot
   * succeed), else after a refresh (at most 3 s).
   */
  private ensureFreshIceServers(): Promise<void> {
    return this.iceServersFresh() ? Promise.resolve() : this.refreshIceServers();
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
    const peer = this.peer;
    if (peer && this.hasLivePeer()) {
      // Same person back after a signaling drop: keep the working connection. If it was a
      // reload, their new connection's offer replaces ours (new o= session id).
      this.showPeerState();
      // Whatever we sent while they were away was relayed to nobody: an offer of ours still
      // waiting for its answer goes again, and a broken connection is repaired from here (we
      // are the impolite side now).
      if (peer.resendLocalOffer()) this.log('sent our unanswered offer again');
      else if (peer.pc.connectionState === 'disconnected' && !this.outage?.gaveUp && !this.restartTimer) this.recover(peer);
      return;
    }
    // A new attempt with this person: a fresh recovery budget.
    this.endOutage();
    this.clearConnectTimer();
    this.replacePeer(true);
  }

  private onBye(): void {
    if (!this.inRoom) return;
    this.log('other person left');
    this.otherPresent = false;
    this.otherReconnecting = false;
    this.closePeer();
    this.resetCallState();
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
        if (this.phase !== 'connected' && this.phase !== 'reconnecting' && this.phase !== 'failed') {
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
    if (!this.connectedOnce && !this.connectTimer) {
      this.connectTimer = setTimeout(() => {
        this.connectTimer = undefined;
        if (!this.inRoom || this.connectedOnce || !this.peer || this.outage?.failureShown) return;
        this.log(`not connected ${CONNECT_TIMEOUT_MS} ms after the first peer connection`);
        this.beginOutage();
        this.showFailure();
      }, CONNECT_TIMEOUT_MS);
    }
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
    } else if (this.outage?.failureShown) {
      this.showFailure();
    } else if (state === 'disconnected' || state === 'failed') {
      this.phase = 'reconnecting';
      this.view.status('Reconnecting…', 'warn');
    } else {
      this.phase = 'connecting';
      this.view.status('Connecting…');
    }
  }

  /** Show a progress status, unless the failure message is up: it stays until a connection comes up. */
  private progress(text: string, kind: StatusKind = 'info'): void {
    if (this.outage?.failureShown) this.showFailure();
    else this.view.status(text, kind);
  }

  /** Recovery state of the call (read by tests and for debugging). */
  recoveryState(): RecoveryState {
    const o = this.outage;
    return {
      connectedOnce: this.connectedOnce,
      inOutage: !!o,
      neverConnected: o?.neverConnected ?? false,
      outageMs: o ? Date.now() - o.startedAt : 0,
      restarts: o?.restarts ?? 0,
      rebuilds: o?.rebuilds ?? 0,
      failureShown: o?.failureShown ?? false,
      gaveUp: o?.gaveUp ?? false,
    };
  }

  private onConnectionState(peer: PeerSession, state: RTCPeerConnectionState): void {
    this.log(`connection ${state}`);
    switch (state) {
      case 'connecting':
        if (this.phase !== 'reconnecting' && this.phase !== 'failed') {
          this.phase = 'connecting';
          this.view.status('Connecting…');
        }
        break;
      case 'connected':
        this.clearRecoveryTimers();
        this.clearConnectTimer();
        this.endOutage();
        this.connectedOnce = true;
        this.otherReconnecting = false;
        this.phase = 'connected';
        this.view.status('Connected', 'ok');
        break;
      case 'disconnected': {
        const o = this.beginOutage();
        if (o.failureShown) this.showFailure();
        else {
          this.phase = 'reconnecting';
          this.view.status('Reconnecting…', 'warn');
        }
        if (o.gaveUp) break;
        if (!peer.polite && !this.disconnectedTimer && !this.restartTimer) {
          this.disconnectedTimer = setTimeout(() => {
            this.disconnectedTimer = undefined;
            if (this.peer === peer && peer.pc.connectionState === 'disconnected' && !this.restartTimer) this.recover(peer);
          }, DISCONNECTED_GRACE_MS);
        }
        this.armPoliteWatchdog(peer);
        break;
      }
      case 'failed': {
        const o = this.beginOutage();
        if (o.neverConnected || o.failureShown) this.showFailure();
        else {
          this.phase = 'reconnecting';
          this.view.status('Reconnecting…', 'warn');
        }
        if (o.gaveUp) break;
        if (!peer.polite) {
          if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
          this.disconnectedTimer = undefined;
          const firstTry = o.neverConnected && o.restarts === 0 && o.rebuilds === 0;
          if (!this.restartTimer) this.recover(peer, firstTry ? NEVER_CONNECTED_RETRY_DELAY_MS : 0);
        }
        this.armPoliteWatchdog(peer);
        break;
      }
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- outages

  /** The current outage, or a new one (with its deadline) when there is none. */
  private beginOutage(): Outage {
    if (this.outage) return this.outage;
    const neverConnected = !this.connectedOnce;
    const budgetMs = neverConnected ? NEVER_CONNECTED_RETRY_MS : OUTAGE_GIVE_UP_MS;
    const o: Outage = {
      startedAt: Date.now(),
      neverConnected,
      restarts: 0,
      rebuilds: 0,
      failureShown: false,
      gaveUp: false,
      deadline: setTimeout(() => this.giveUp(o), budgetMs),
    };
    this.outage = o;
    this.log(`outage began (${neverConnected ? 'never connected' : 'was connected'}; recovery stops after ${budgetMs} ms)`);
    return o;
  }

  /** The connection is back (or the call is over): forget the outage and its budget. */
  private endOutage(): void {
    const o = this.outage;
    if (!o) return;
    clearTimeout(o.deadline);
    this.outage = undefined;
    this.log(`outage over after ${Date.now() - o.startedAt} ms (${o.restarts} ICE restarts, ${o.rebuilds} rebuilds${o.gaveUp ? ', after giving up' : ''})`);
  }

  /** Stop recovering: the failure message stays until a connection comes up by itself or from the other side. */
  private giveUp(o: Outage): void {
    if (this.outage !== o || o.gaveUp) return;
    o.gaveUp = true;
    this.clearRecoveryTimers();
    this.log(`giving up after ${Date.now() - o.startedAt} ms (${o.restarts} ICE restarts, ${o.rebuilds} rebuilds)`);
    this.showFailure();
  }

  /** The failure sentence for the current outage. */
  private failureText(): string {
    const o = this.outage;
    if (o?.neverConnected) {
      const haveTurn = this.iceServers.some((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^turns?:/i.test(u)));
      const base = haveTurn
        ? 'Could not connect to the other person: no network path, not even through the TURN relay (a firewall may block it).'
        : 'Could not connect to the other person: no network path (a TURN relay may be needed).';
      return o.gaveUp ? `${base} Leave and Join again to retry.` : `${base} Still trying…`;
    }
    return 'The connection to the other person failed and could not be repaired. A firewall may block it; try another network, or Leave and Join again.';
  }

  /** Show the failure message (it stays until a connection comes up). */
  private showFailure(): void {
    const o = this.outage;
    if (!o) return;
    const text = this.failureText();
    if (!o.failureShown) this.log(`failure shown: ${text}`);
    o.failureShown = true;
    this.phase = 'failed';
    this.view.status(text, 'error');
  }

  /** Forget everything about the current call's connection history (new person, Leave, Join). */
  private resetCallState(): void {
    this.endOutage();
    this.clearConnectTimer();
    this.connectedOnce = false;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  /**
   * Impolite side: next recovery step of the current outage: an ICE restart (RFC 8445 §9; JSEP
   * RFC 8829 §4.1.1 `restartIce`) with backoff, then a new connection; gives up when the outage's
   * budget is used. `extraDelayMs` is added before the first step.
   */
  private recover(peer: PeerSession, extraDelayMs = 0): void {
    if (this.peer !== peer || peer.closed) return;
    const o = this.beginOutage();
    if (o.gaveUp) return;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (o.restarts >= ICE_RESTART_DELAYS_MS.length) {
      this.rebuild();
      return;
    }
    const delay = ICE_RESTART_DELAYS_MS[o.restarts]! + extraDelayMs;
    o.restarts++;
    const attempt = o.restarts;
    const stale = () => this.peer !== peer || peer.closed || this.outage !== o || o.gaveUp;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (stale()) return;
      if (peer.pc.connectionState === 'connected') {
        this.onConnectionState(peer, 'connected');
        return;
      }
      this.log(`ICE restart attempt ${attempt}/${ICE_RESTART_DELAYS_MS.length}`);
      this.progress(`Reconnecting… (attempt ${attempt})`, 'warn');
      // Keep the timer slot taken while fresh credentials are fetched (if they are needed).
      this.restartTimer = setTimeout(() => undefined, ICE_RESTART_TIMEOUT_MS);
      void this.ensureFreshIceServers().then(() => {
        if (stale()) return;
        if (this.restartTimer) clearTimeout(this.restartTimer);
        peer.restartIce();
        // Done when the connection is up (no event fires when the state never left "connected"
        // during the restart, so poll). The restart's answer may come later: it is applied then.
        const started = Date.now();
        const poll = () => {
          this.restartTimer = undefined;
          if (stale()) return;
          if (peer.pc.connectionState === 'connected') {
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
  }

  /**
   * Replace a connection that could not be repaired by a new one (we offer; the other side
   * replaces its own on the new SDP session id), or give up when this outage already used
   * {@link MAX_REBUILDS}. Starts an outage when there is none (e.g. called by a test).
   */
  private rebuild(): void {
    const o = this.beginOutage();
    if (o.gaveUp) return;
    if (o.rebuilds >= MAX_REBUILDS) {
      this.giveUp(o);
      return;
    }
    o.rebuilds++;
    this.totals.rebuilds++;
    this.log(`building a new peer connection (rebuild ${o.rebuilds}/${MAX_REBUILDS})`);
    this.createPeer(true);
    if (!this.iceServersFresh()) void this.refreshIceServers();
    if (!o.failureShown) this.phase = 'reconnecting';
    this.progress('Reconnecting…', 'warn');
    // If the new connection does not come up either: next step (the budget decides).
    const peer = this.peer!;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.peer !== peer || this.outage !== o || o.gaveUp || peer.pc.connectionState === 'connected') return;
      if (peer.polite) this.rebuild();
      else this.recover(peer);
    }, REBUILD_TIMEOUT_MS);
  }

  private armPoliteWatchdog(peer: PeerSession): void {
    if (!peer.polite || this.politeWatchdog || this.outage?.gaveUp) return;
    this.politeWatchdog = setTimeout(() => {
      this.politeWatchdog = undefined;
      if (this.peer === peer && peer.pc.connectionState !== 'connected' && this.otherPresent && !this.outage?.gaveUp) {
        this.log('connection still broken: polite side rebuilds');
        this.rebuild();
      }
    }, POLITE_WATCHDOG_MS);
  }

  /** Timers of the current connection's recovery (not the outage's deadline). */
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
