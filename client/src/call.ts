/**
 * One person's side of a 1-to-1 call: the coordinator between the signaling connection
 * (signalingClient.ts), the current peer connection (peerSession.ts), outage recovery
 * (recovery.ts), ICE servers (iceServers.ts) and local media (localMedia.ts). It says what
 * happens through a {@link CallView}, implemented by the page; no DOM here.
 *
 * Who offers:
 * - The member already in the room offers when the other joins (`otherjoin`), as in the original
 *   demo. The joiner waits for that offer (and offers itself only if none came within
 *   {@link JOINER_OFFER_FALLBACK_MS}, or right away when it took its seat back after a reload).
 * - Both get ready ahead of time, so a call connects quickly: the member waiting alone makes its
 *   connection and offer while waiting and sends the offer (with its gathered candidates) the
 *   moment `otherjoin` comes (PeerSlot.warm); the joiner makes its answering connection at
 *   `joined`, gathering candidates while the offer is on its way.
 * - After that either side may renegotiate (perfect negotiation, see peerSession.ts).
 * - An offer whose SDP `o=` session id differs from the current remote description's comes from a
 *   new peer connection on the other side (page reload, or its connection was rebuilt): the local
 *   connection is replaced by a fresh one that answers it.
 *
 * Signaling drops: messages the server did not acknowledge before a Socket.IO drop are sent again
 * after the re-join (signalingClient.ts); when the other person re-joins, an offer of ours still
 * waiting for its answer is sent again (it may have been relayed to nobody).
 */
import { IceServersInfoSchema, ROOM_PATTERN, type JoinedInfo, type MessageData, type SignalingError } from '../../contracts/signaling.js';
import type { CallExtension, CallRoom, ExtensionMessage } from './callExtension.js';
import { IceServers, REFETCH_TIMEOUT_MS, type IceServersSource } from './iceServers.js';
import { LocalMedia, type LocalMediaState } from './localMedia.js';
import { MediaError } from './mediaDevices.js';
import type { PeerSession } from './peerSession.js';
import { PeerSlot, type PageCounters } from './peerSlot.js';
import { CallStatus } from './callStatus.js';
import { msg, type Msg } from './i18n/index.js';
import type { CallView, StatusKind } from './callView.js';
import { OutageRecovery, type RecoveryState } from './recovery.js';
import { rememberRoom } from './room.js';
import { Signaling, sessionToken } from './signalingClient.js';

/** What {@link Call.join} needs. */
export interface JoinRequest {
  room: string;
  /** Send the screen instead of the camera from the start. */
  shareDesktop: boolean;
  /** `iceTransportPolicy: 'relay'` (URL `?relay=1`). */
  relayOnly: boolean;
  /** The room's passcode ('' or absent: none): sets it when this page opens the room. */
  passcode?: string;
}

/** How long the joiner waits for the offer before offering itself, ms. */
export const JOINER_OFFER_FALLBACK_MS = 3000;

/** How long an ICE restart waits for fresh TURN credentials over signaling, ms (then it goes ahead with the current ones). */
export const RESTART_CREDENTIALS_WAIT_MS = 1000;

/** Negotiation counters of a whole page, with the peer connections made and rebuilt. */
export type CallCounters = PageCounters & { rebuilds: number };

/** One person's side of a 1-to-1 call (see the module comment). */
export class Call implements CallRoom {
  signaling: Signaling | null = null;
  room: string | undefined;
  polite = true;
  /** True while the other person holds the other seat (as far as we know). */
  otherPresent = false;
  /** True from `otherreconnecting` until the other person is back (or gone). */
  otherReconnecting = false;
  /** Human-readable event log (newest last, bounded), for debugging and tests. */
  readonly eventLog: string[] = [];
  readonly peers: PeerSlot;
  readonly recovery: OutageRecovery;
  readonly ice: IceServers;
  /** The status and warning lines, and the phase they follow. */
  readonly status: CallStatus;
  private relayOnly = false;
  /** Features following the call (see callExtension.ts). */
  private readonly extensions: CallExtension[] = [];
  private offerFallbackTimer: ReturnType<typeof setTimeout> | undefined;
  private joinGeneration = 0;
  /** True once {@link Call.prepare} was called: the call gets ready again after each Leave. */
  private keepPrepared = false;
  /**
   * The DTLS certificate of our connections, made by {@link Call.prepare}: a connection given one
   * does not make its own before it can create an offer or answer (and making it in advance sets up
   * the browser's WebRTC machinery before the call).
   */
  private certificate: RTCCertificate | undefined;

  /**
   * @param view   the page.
   * @param media  this person's media; may already be open (then Join uses its tracks as they are).
   * @param iceSource where renewed ICE servers come from (default: the signaling connection,
   *   `ice-servers`; the first ones come with `joined`).
   */
  constructor(
    private readonly view: CallView,
    readonly media: LocalMedia = new LocalMedia(),
    iceSource?: IceServersSource,
  ) {
    // TURN credentials go only to seated members: with `joined`, and renewed over signaling.
    this.ice = new IceServers(
      iceSource ?? {
        get: () => (this.signaling ? this.signaling.iceServers(REFETCH_TIMEOUT_MS) : Promise.reject(new Error('not connected'))),
      },
    );
    this.ice.onRenewed((servers) => this.peer?.setIceServers(servers));
    this.status = new CallStatus(view, () => this.ice.hasTurn());
    this.peers = new PeerSlot({
      configuration: () => ({
        iceServers: this.ice.servers,
        iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
        bundlePolicy: 'max-bundle',
        // A certificate about to expire is not given: the connection makes its own.
        ...(this.certificate && this.certificate.expires > Date.now() + 3_600_000 ? { certificates: [this.certificate] } : {}),
      }),
      polite: () => this.polite,
      media,
      events: {
        created: (peer, offering) => {
          this.recovery.peerCreated();
          this.log(`new peer connection #${peer.number} (${peer.polite ? 'polite' : 'impolite'}, ${offering ? 'offering' : 'answering'})`);
          this.notify((e) => e.peerCreated?.(peer));
        },
        emptied: () => {
          this.clearOfferFallback();
          this.recovery.peerClosed();
          this.view.remoteVideo(null);
          this.view.chatState(false);
          this.notify((e) => e.peerClosed?.());
        },
        send: (data, stale) => this.signaling?.send(data, stale),
        remoteStream: (stream) => {
          this.view.remoteVideo(stream);
          this.notify((e) => e.remoteStream?.(stream));
        },
        connectionState: (peer, state) => {
          if (state === 'connecting') this.status.connecting(['reconnecting', 'failed']);
          this.recovery.connectionStateChanged(peer, state);
          this.notify((e) => e.peerConnectionState?.(peer, state));
        },
        chatState: (open) => this.view.chatState(open),
        chatMessage: (text, sentAt) => this.view.chatMessage('them', text, sentAt),
        log: (msg) => this.log(msg),
      },
    });
    this.recovery = new OutageRecovery({
      currentPeer: () => this.peer,
      createPeer: () => this.peers.create(true),
      freshIceServers: () => this.freshIceServers(),
      otherPresent: () => this.otherPresent,
      status: (s) => {
        if (s.kind === 'connected') this.otherReconnecting = false;
        this.status.recovery(s);
      },
      log: (msg) => this.log(msg),
    });
    media.sender = { replaceTrack: async (kind, track) => this.peer?.replaceTrack(kind, track) };
    media.events = {
      tracksChanged: () => {
        this.view.localVideo(media.preview);
        this.view.devicesChanged?.();
        this.notify((e) => e.tracksChanged?.());
      },
      stateChanged: (state) => {
        this.view.localMediaState(state);
        if (this.otherPresent) this.sendMediaState();
      },
      problem: (text) => this.view.warning(text),
      log: (msg) => this.log(msg),
    };
  }

  /** True from Join until Leave (or a refusal). */
  get inRoom(): boolean {
    return this.room !== undefined;
  }

  /** The current peer connection, or null. */
  get peer(): PeerSession | null {
    return this.peers.current;
  }

  /** Our media state (mute, camera off, screen). */
  get mediaState(): LocalMediaState {
    return this.media.state;
  }

  /** The track currently sent as video when the camera is on (screen or camera), if any. */
  get videoTrack(): MediaStreamTrack | null {
    return this.media.videoTrack;
  }

  get screenTrack(): MediaStreamTrack | null {
    return this.media.screenTrack;
  }

  /**
   * Open media (unless already open), fetch ICE servers and join the room. Without any camera or
   * microphone the call joins to receive only (the warning line says so).
   * Errors are reported through the view (status), never thrown.
   */
  async join(req: JoinRequest): Promise<void> {
    if (this.inRoom) return;
    if (!ROOM_PATTERN.test(req.room)) {
      this.status.invalidRoom();
      return;
    }
    const generation = ++this.joinGeneration;
    this.room = req.room;
    this.relayOnly = req.relayOnly;
    // Everything ready before Join (pre-join check, prepare()): take the seat first, then update
    // the page; the other person's offer is on its way meanwhile.
    const seatNow = this.signaling !== null && this.media.acquired && !(req.shareDesktop && !this.media.screenTrack);
    if (seatNow) {
      rememberRoom({ room: req.room, relayOnly: req.relayOnly, passcode: req.passcode });
      this.signaling!.join(req.room, req.passcode);
    }
    this.showInRoom(true);
    this.status.setStandingWarning([]);
    // The ICE servers (TURN credentials) come with `joined`: only seated members get them.
    const warnings: Msg[] = [];
    if (req.relayOnly) warnings.push(msg('call.relayOnly'));
    const openedBefore = this.media.acquired;
    try {
      warnings.push(...(await this.media.acquire({ shareDesktop: req.shareDesktop, step: (s) => this.status.starting(s) })));
      if (req.shareDesktop && openedBefore && !this.media.screenTrack && generation === this.joinGeneration) {
        // The camera was opened before Join (pre-join check): the screen takes its place.
        this.status.starting('choose-screen');
        const problem = await this.media.setScreenSharing(true);
        if (problem) warnings.push(problem, msg('media.cameraInstead'));
      }
    } catch (err) {
      if (generation !== this.joinGeneration) return;
      // Neither a camera nor a microphone: join anyway, to see and hear the other person.
      warnings.push(err instanceof MediaError ? err.text : msg('media.other.cameraAndMicrophone', { detail: String(err) }), msg('prejoin.receiveOnly'));
    }
    if (generation !== this.joinGeneration) {
      this.media.release();
      return;
    }

    this.recovery.reset();
    this.status.setStandingWarning(warnings);

    if (seatNow) return;
    this.status.starting('server');
    rememberRoom({ room: req.room, relayOnly: req.relayOnly, passcode: req.passcode });
    (this.signaling ?? this.openSignaling()).join(req.room, req.passcode);
  }

  /**
   * Get ready to join before the person presses Join (during the pre-join check): connect to the
   * signaling server now, so Join sends `join` at once over an open connection (the ICE servers
   * come with `joined`). From then on the call gets ready again after every Leave. Does nothing in a room.
   */
  prepare(): void {
    this.keepPrepared = true;
    if (!this.certificate && typeof RTCPeerConnection !== 'undefined' && typeof RTCPeerConnection.generateCertificate === 'function') {
      RTCPeerConnection.generateCertificate({ name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams).then(
        (c) => (this.certificate = c),
        () => undefined,
      );
    }
    if (this.inRoom) return;
    if (!this.signaling) this.openSignaling();
  }

  /**
   * Before an ICE restart or a rebuild: ask for fresh credentials over signaling and give them to
   * the peer connection (`setConfiguration`, through the renewal listener) before it gathers. Waits
   * at most {@link RESTART_CREDENTIALS_WAIT_MS}: during a network cut the old credentials (valid
   * for the allocation's life, see turn/README.md) serve; a late answer is still applied.
   */
  private freshIceServers(): Promise<void> {
    if (!this.signaling?.seated || !this.signaling.connected) return this.ice.ensureFresh();
    const renewed = this.ice.refresh();
    return Promise.race([renewed.then(() => undefined), new Promise<void>((r) => setTimeout(r, RESTART_CREDENTIALS_WAIT_MS))]);
  }

  private openSignaling(): Signaling {
    const signaling = new Signaling({ session: sessionToken() });
    this.signaling = signaling;
    this.wireSignaling(signaling);
    return signaling;
  }

  /** Leave the room: `leave` to the server, close the connection, stop local media, reset; then show `statusText`. */
  leave(statusText: Msg = msg('status.left'), kind: StatusKind = 'info'): void {
    this.joinGeneration++;
    rememberRoom(null);
    // First, while the room is still there: features send their last words (recording stopped).
    this.notify((e) => e.left?.());
    this.signaling?.leave();
    this.signaling?.close();
    this.signaling = null;
    this.peers.close();
    this.recovery.reset();
    this.ice.stop();
    this.room = undefined;
    this.otherPresent = false;
    this.media.release();
    this.view.remoteMediaState(null);
    this.showInRoom(false);
    this.status.ended(statusText, kind);
    if (this.keepPrepared) this.prepare();
  }

  /** Mute or unmute the microphone; the other side is told. */
  setMuted(muted: boolean): void {
    this.media.setMuted(muted);
  }

  /** Turn the outgoing video off or on (no renegotiation; see {@link LocalMedia.setVideoOff}); the other side is told. */
  setVideoOff(off: boolean): void {
    this.media.setVideoOff(off);
  }

  /**
   * Send the screen instead of the camera (or back), without renegotiation. Must be called from a
   * click when turning sharing on.
   * @returns an error sentence, or undefined on success.
   */
  async setScreenSharing(on: boolean): Promise<Msg | undefined> {
    if (!this.inRoom) return msg('call.joinFirst');
    return this.media.setScreenSharing(on);
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

  /** Replace the connection by a new one now, as recovery does after its ICE restarts (debugging and tests). */
  rebuild(): void {
    this.recovery.rebuild();
  }

  /** Recovery state of the call (read by tests and for debugging). */
  recoveryState(): RecoveryState {
    return this.recovery.state();
  }

  /** Counters of every connection so far plus the current one. */
  counters(): CallCounters {
    return { ...this.peers.counters(), rebuilds: this.recovery.totalRebuilds };
  }

  // ---------------------------------------------------------------- signaling

  private wireSignaling(s: Signaling): void {
    s.events = {
      connected: (reconnect) => {
        this.log(reconnect ? 'signaling reconnected' : 'signaling connected');
        if (reconnect && this.inRoom) this.status.signalingReconnected();
      },
      disconnected: (reason) => {
        this.log(`signaling disconnected: ${reason}`);
        if (this.inRoom) this.status.signalingLost();
      },
      connectError: (err) => {
        this.log(`cannot reach the server: ${err.message}`);
        if (this.inRoom) this.status.serverUnreachable();
      },
      evicted: () => {
        this.log('seat taken over by another connection of this session');
        this.leave(msg('status.otherTab'), 'warn');
      },
      restarting: () => {
        this.log('server restarting');
        if (this.inRoom) this.status.serverRestarting();
      },
      joined: (room, id, info) => this.onJoined(room, id, info),
      otherJoined: (_room, id) => this.onOtherJoined(id),
      full: (room) => {
        this.log(`room ${room} is full`);
        this.leave(msg('status.roomFull', { room }), 'error');
      },
      bye: () => this.onBye(),
      otherReconnecting: (_room, _id, graceMs) => {
        this.otherReconnecting = true;
        this.log(`other person reconnecting (seat held ${graceMs} ms)`);
        this.status.otherReconnecting();
      },
      message: (data) => this.onMessage(data),
      error: (err) => this.onSignalingError(err),
    };
  }

  private onJoined(room: string, id: string, info: JoinedInfo | undefined): void {
    const { ice: _credentials, ...shown } = info ?? {};
    this.log(`joined room ${room} as ${id} ${JSON.stringify(shown)}`);
    // Our seat's ICE servers, before any peer connection is made below.
    const ice = IceServersInfoSchema.safeParse(info?.ice);
    if (ice.success) this.ice.accept({ iceServers: ice.data.iceServers as RTCIceServer[], ttl: ice.data.ttl });
    else if (info?.ice !== undefined) this.log('joined: unusable ICE servers ignored');
    if (this.signaling?.connected) this.status.seated();
    this.polite = info?.polite ?? true;
    if (this.peer) this.peer.polite = this.polite;
    const live = this.peers.isLive();
    if (info && info.members >= 2) {
      this.otherPresent = true;
      this.greetOther();
      if (live) {
        this.showPeerState();
      } else if (info.resumed) {
        // We took our seat back after a reload: the other side still has its old connection.
        this.replacePeer(true);
      } else {
        // The other person offers now (they got `otherjoin`): be ready to answer at once.
        if (!this.peer) this.peers.create(false, true);
        this.status.connecting();
        this.armOfferFallback();
      }
    } else if (live) {
      this.showPeerState();
    } else {
      this.status.waiting();
      // Nobody else yet: make the offer now and send it the moment someone joins.
      if (!this.peers.warming) this.peers.warm();
    }
  }

  private onOtherJoined(id: string): void {
    this.log(`other person joined: ${id}`);
    this.otherPresent = true;
    this.otherReconnecting = false;
    this.polite = false;
    if (this.peer) this.peer.polite = false;
    this.greetOther();
    const peer = this.peer;
    if (peer && this.peers.isLive()) {
      // Same person back after a signaling drop: keep the working connection. If it was a
      // reload, their new connection's offer replaces ours (new o= session id).
      this.showPeerState();
      // Whatever we sent while they were away was relayed to nobody: an offer of ours still
      // waiting for its answer goes again, and a broken connection is repaired from here (we
      // are the impolite side now).
      if (peer.resendLocalOffer()) this.log('sent our unanswered offer again');
      else this.recovery.otherRejoined(peer);
      return;
    }
    // A new attempt with this person: a fresh recovery budget.
    this.recovery.newAttempt();
    if (this.peers.release()) this.status.connecting();
    else this.replacePeer(true);
  }

  private onBye(): void {
    if (!this.inRoom) return;
    this.log('other person left');
    this.otherPresent = false;
    this.otherReconnecting = false;
    this.peers.close();
    this.recovery.reset();
    this.view.remoteMediaState(null);
    this.notify((e) => e.otherLeft?.());
    this.status.waiting(true);
    this.peers.warm();
  }

  private onSignalingError(err: SignalingError): void {
    // The person reads the code's sentence in their language; the server's own words go to the log.
    this.log(`server refused ${err.event}: ${err.code} ${err.reason}`);
    if (err.event !== 'join' || err.code === 'already-joined') return;
    // A refused join ends the attempt; `rate-limited` on a join means too many join attempts from
    // this network (the per-connection event limit is far above what this page sends).
    this.leave(err.code === 'rate-limited' ? msg('signaling.joinRateLimited') : refusalText(err.code), 'error');
  }

  private onMessage(data: MessageData): void {
    if (data === 'bye') {
      this.onBye();
      return;
    }
    switch (data.type) {
      case 'offer':
        this.otherPresent = true;
        this.otherReconnecting = false;
        this.clearOfferFallback();
        if (this.peers.takeOffer(data) === 'replaced') this.greetOther();
        this.status.connecting(['connected', 'reconnecting', 'failed']);
        return;
      case 'answer':
        this.peers.takeAnswer(data);
        return;
      case 'candidate':
        this.peers.takeCandidate(data);
        return;
      case 'state':
        this.view.remoteMediaState({ audioMuted: data.audioMuted, videoOff: data.videoOff, screen: data.screen });
        return;
      case 'verified':
      case 'recording':
      case 'netQuality':
        this.notify((e) => e.message?.(data));
        return;
    }
  }

  /** Follow the call with a feature (see callExtension.ts). */
  addExtension(ext: CallExtension): void {
    this.extensions.push(ext);
  }

  /** Send a feature message to the other person over the room (nothing when not in a room). */
  sendRoomMessage(data: ExtensionMessage): void {
    this.signaling?.send(data);
  }

  /** The other person is (again) there: our media state, and each feature's state. */
  private greetOther(): void {
    this.sendMediaState();
    this.notify((e) => e.otherArrived?.());
  }

  private showInRoom(inRoom: boolean): void {
    this.view.inRoom(inRoom);
    this.notify((e) => e.inRoom?.(inRoom));
  }

  private notify(fn: (ext: CallExtension) => void): void {
    for (const ext of this.extensions) {
      try {
        fn(ext);
      } catch (err) {
        // A feature's failure never affects the call.
        this.log(`extension error: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private sendMediaState(): void {
    this.signaling?.send({ type: 'state', ...this.media.state });
  }

  private armOfferFallback(): void {
    this.clearOfferFallback();
    this.offerFallbackTimer = setTimeout(() => {
      this.offerFallbackTimer = undefined;
      // No connection, or only the one made ahead for an offer that never came.
      if (this.inRoom && this.otherPresent && (!this.peer || !this.peer.pc.remoteDescription)) {
        this.log('no offer arrived: offering ourselves');
        this.replacePeer(true);
      }
    }, JOINER_OFFER_FALLBACK_MS);
  }

  private clearOfferFallback(): void {
    if (this.offerFallbackTimer) clearTimeout(this.offerFallbackTimer);
    this.offerFallbackTimer = undefined;
  }

  /** Close the current connection (if any) and make a new one; `offer` = add tracks now (→ offer). */
  private replacePeer(offer: boolean): void {
    this.peers.create(offer);
    if (offer) this.status.connecting();
  }

  /** The status for the current connection as it is now (after a re-join). */
  private showPeerState(): void {
    this.status.peerState(this.peer?.connectionState, this.recovery.state());
  }

  private log(msg: string): void {
    const line = `${new Date().toISOString().slice(11, 23)} ${msg}`;
    this.eventLog.push(line);
    if (this.eventLog.length > 300) this.eventLog.shift();
    if (!msg.startsWith('[pc')) console.log(`[call] ${msg}`);
  }
}

/** The sentence for a server refusal, by its stable code (a new code must get a sentence here: checked at compile time). */
export function refusalText(code: SignalingError['code']): Msg {
  const sentences: { [C in SignalingError['code']]: Msg } = {
    'invalid-room': msg('signaling.invalid-room'),
    'invalid-payload': msg('signaling.invalid-payload'),
    'not-a-member': msg('signaling.not-a-member'),
    'already-joined': msg('signaling.already-joined'),
    'rate-limited': msg('signaling.rate-limited'),
    'wrong-passcode': msg('signaling.wrong-passcode'),
    'server-shutdown': msg('signaling.server-shutdown'),
  };
  return sentences[code] ?? msg('signaling.invalid-payload');
}
