/**
 * One RTCPeerConnection with "perfect negotiation" (W3C WebRTC 1.0 §10.7 example; RFC 8829 JSEP
 * rollback): either side may renegotiate at any time; on an offer collision ("glare") the polite
 * side rolls back its own offer and answers, the impolite side ignores the incoming offer.
 *
 * Also here: trickle ICE in the original demo's and the standard field names, a queue for
 * candidates that arrive before the remote description, the chat data channel (negotiated, id 0,
 * so both sides have it without extra signaling) and counters the tests and the stats panel read.
 */
import type { CandidateMessage, MessageData, SessionDescriptionMessage } from '../../contracts/signaling.js';

/** What a {@link PeerSession} tells its owner. */
export interface PeerCallbacks {
  /** Relay to the other person. `stale()` returns true once this session is closed. */
  send(data: MessageData, stale: () => boolean): void;
  /** The remote stream (created once per session; tracks are added to it as they arrive). */
  remoteStream(stream: MediaStream): void;
  /** `RTCPeerConnection.connectionState` changed. */
  connectionState(state: RTCPeerConnectionState): void;
  /** The chat channel opened or closed. */
  chatState?(open: boolean): void;
  /** A chat message arrived: text and the sender's timestamp (unix ms). */
  chatMessage?(text: string, sentAt: number): void;
  /** Diagnostics (also printed to the console). */
  log?(msg: string): void;
}

/** Negotiation counters (read by tests via `window.__call` and by the stats panel). */
export interface NegotiationCounters {
  offersSent: number;
  answersSent: number;
  offersReceived: number;
  answersReceived: number;
  candidatesSent: number;
  candidatesReceived: number;
  /** Candidates that arrived before a remote description and waited in the queue. */
  candidatesQueued: number;
  /** Offers ignored by the impolite side during glare. */
  offersIgnored: number;
  /** Own offers rolled back by the polite side during glare. */
  rollbacks: number;
  iceRestarts: number;
  /** Unanswered offers sent again (the other person re-joined; the first may have been relayed to nobody). */
  offersResent: number;
  /** Answers that arrived in the `stable` state (duplicates of an answered offer) and were dropped. */
  staleAnswers: number;
  /** setRemoteDescription/addIceCandidate failures. */
  errors: number;
}

/** A fresh set of {@link NegotiationCounters}, all zero. */
export function zeroNegotiationCounters(): NegotiationCounters {
  return {
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
    offersResent: 0,
    staleAnswers: 0,
    errors: 0,
  };
}

/** Options of {@link PeerSession}. */
export interface PeerSessionOptions {
  configuration: RTCConfiguration;
  /** Perfect-negotiation role. The server assigns it (second joiner polite). */
  polite: boolean;
  /**
   * Local tracks to send (at most one audio and one video). A missing one is still negotiated as
   * sendrecv (nothing is sent until {@link PeerSession.replaceTrack} puts a track in).
   */
  audioTrack: MediaStreamTrack | null;
  videoTrack: MediaStreamTrack | null;
  /** Stream the local tracks belong to (so the far side groups them). */
  localStream: MediaStream;
  /**
   * Add the local tracks now (the offerer), or wait until the first remote offer is applied
   * (`false`: the answerer's transceivers then reuse the offer's m-sections, JSEP §5.10).
   */
  addTracksNow: boolean;
  /**
   * Make no offer of our own before the other side's first offer is applied: a connection made
   * ahead of an expected offer (its chat channel would otherwise make it offer, and cross that offer).
   */
  waitForOffer?: boolean;
  callbacks: PeerCallbacks;
}

/** Largest chat message accepted or sent, in characters. */
export const MAX_CHAT_LENGTH = 2000;

/** The `o=` session id of an SDP (RFC 8866 §5.2), constant across renegotiations of one connection. */
export function sdpSessionId(sdp: string): string | undefined {
  return /^o=\S+ (\d+) /m.exec(sdp)?.[1];
}

let nextSessionNumber = 1;

/**
 * A peer connection plus its negotiation state. Create one per call attempt; replace it (close +
 * new) when the other person changes or the connection cannot be repaired.
 */
export class PeerSession {
  readonly pc: RTCPeerConnection;
  /** 1, 2, …: which session of this page this is (for logs). */
  readonly number = nextSessionNumber++;
  polite: boolean;
  readonly chat: RTCDataChannel;
  readonly remote = new MediaStream();
  readonly counters: NegotiationCounters = zeroNegotiationCounters();
  /** Signaling states this connection went through, in order (for tests and debugging). */
  readonly signalingHistory: RTCSignalingState[] = ['stable'];
  /** `o=` session id of the remote description, once there is one. */
  remoteSessionId: string | undefined;
  audioSender: RTCRtpSender | null = null;
  videoSender: RTCRtpSender | null = null;
  closed = false;

  private makingOffer = false;
  private ignoreOffer = false;
  private settingRemoteAnswer = false;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private tracksAdded = false;
  private readonly opts: PeerSessionOptions;

  /** Create the connection and the chat channel; with `addTracksNow` negotiation starts at once. */
  constructor(opts: PeerSessionOptions) {
    this.opts = opts;
    this.polite = opts.polite;
    const pc = new RTCPeerConnection(opts.configuration);
    this.pc = pc;
    const cb = opts.callbacks;

    pc.onnegotiationneeded = async () => {
      if (this.closed) return;
      if (opts.waitForOffer && !pc.remoteDescription) return;
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        const desc = pc.localDescription;
        if (!desc || this.closed) return;
        if (desc.type !== 'offer') return;
        this.counters.offersSent++;
        this.log(`sending offer (${this.polite ? 'polite' : 'impolite'})`);
        cb.send({ type: 'offer', sdp: desc.sdp }, () => this.closed);
      } catch (err) {
        this.counters.errors++;
        this.log(`could not create an offer: ${String(err)}`);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || this.closed) return;
      if (candidate.sdpMLineIndex == null && candidate.sdpMid == null) return;
      this.counters.candidatesSent++;
      const msg: CandidateMessage = {
        type: 'candidate',
        label: candidate.sdpMLineIndex,
        id: candidate.sdpMid,
        sdpMLineIndex: candidate.sdpMLineIndex,
        sdpMid: candidate.sdpMid,
        candidate: candidate.candidate,
      };
      if (candidate.usernameFragment) msg.usernameFragment = candidate.usernameFragment;
      cb.send(msg, () => this.closed);
    };
    pc.ontrack = ({ track }) => {
      if (!this.remote.getTracks().includes(track)) this.remote.addTrack(track);
      cb.remoteStream(this.remote);
    };
    pc.onconnectionstatechange = () => {
      if (!this.closed) cb.connectionState(pc.connectionState);
    };
    pc.onsignalingstatechange = () => {
      this.signalingHistory.push(pc.signalingState);
      if (this.signalingHistory.length > 200) this.signalingHistory.shift();
    };

    this.chat = pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    this.chat.onopen = () => cb.chatState?.(true);
    this.chat.onclose = () => cb.chatState?.(false);
    this.chat.onmessage = (ev) => {
      if (typeof ev.data !== 'string' || ev.data.length > MAX_CHAT_LENGTH * 2) return;
      try {
        const m = JSON.parse(ev.data) as { text?: unknown; sentAt?: unknown };
        if (typeof m.text !== 'string' || m.text.length === 0 || m.text.length > MAX_CHAT_LENGTH) return;
        cb.chatMessage?.(m.text, typeof m.sentAt === 'number' ? m.sentAt : Date.now());
      } catch {
        /* not our format: drop */
      }
    };

    if (opts.addTracksNow) this.addLocalTracks();
  }

  /** Make this side's local tracks part of the connection (once). */
  private addLocalTracks(): void {
    if (this.tracksAdded || this.closed) return;
    this.tracksAdded = true;
    const { audioTrack, videoTrack, localStream } = this.opts;
    const pc = this.pc;
    // Reuse transceivers created by a remote offer (answerer) so no extra m-sections appear.
    const idle = (kind: string) => pc.getTransceivers().find((t) => t.receiver.track.kind === kind && !t.sender.track && t.direction !== 'stopped');
    for (const [kind, track] of [
      ['audio', audioTrack],
      ['video', videoTrack],
    ] as const) {
      const existing = idle(kind);
      let sender: RTCRtpSender;
      if (existing) {
        sender = existing.sender;
        if (track) {
          void sender.replaceTrack(track);
          sender.setStreams?.(localStream);
        }
        existing.direction = 'sendrecv';
      } else if (track) {
        sender = pc.addTrack(track, localStream);
      } else {
        // Nothing to send now (no device, or the camera is off): still negotiate sendrecv so a
        // track can be put in later with replaceTrack, without renegotiation.
        sender = pc.addTransceiver(kind, { direction: 'sendrecv', streams: [localStream] }).sender;
      }
      if (kind === 'audio') this.audioSender = sender;
      else this.videoSender = sender;
    }
  }

  /**
   * Apply a remote offer or answer (perfect negotiation). An offer is answered at once.
   * Never throws: failures are counted and logged.
   */
  async handleDescription(desc: SessionDescriptionMessage): Promise<void> {
    const pc = this.pc;
    if (this.closed) return;
    if (desc.type === 'answer' && pc.signalingState === 'stable') {
      // No offer of ours is waiting: a duplicate answer (after an offer was sent again). Applying
      // it would fail (an answer needs a local offer, JSEP RFC 8829 §5.10); not counted as received.
      this.counters.staleAnswers++;
      this.log('dropping an answer that arrived in the stable state (duplicate)');
      return;
    }
    if (desc.type === 'offer') this.counters.offersReceived++;
    else this.counters.answersReceived++;
    try {
      const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.settingRemoteAnswer);
      const offerCollision = desc.type === 'offer' && !readyForOffer;
      this.ignoreOffer = !this.polite && offerCollision;
      if (this.ignoreOffer) {
        this.counters.offersIgnored++;
        this.log('glare: ignoring the incoming offer (impolite)');
        return;
      }
      if (offerCollision) {
        this.counters.rollbacks++;
        this.log('glare: rolling back our offer (polite)');
      }
      this.settingRemoteAnswer = desc.type === 'answer';
      try {
        // Implicit rollback (RFC 8829 §4.1.8.2) when we had a local offer and this is an offer.
        await pc.setRemoteDescription(desc);
      } finally {
        this.settingRemoteAnswer = false;
      }
      if (this.closed) return;
      this.remoteSessionId = sdpSessionId(desc.sdp) ?? this.remoteSessionId;
      if (desc.type === 'offer') {
        this.addLocalTracks();
        await pc.setLocalDescription();
        const answer = pc.localDescription;
        if (answer && !this.closed) {
          this.counters.answersSent++;
          this.opts.callbacks.send({ type: 'answer', sdp: answer.sdp }, () => this.closed);
        }
      }
      await this.flushCandidates();
    } catch (err) {
      this.counters.errors++;
      this.log(`could not apply the remote ${desc.type}: ${String(err)}`);
    }
  }

  /**
   * Add a trickled remote ICE candidate; queued until a remote description exists.
   * Accepts the original demo's `label`/`id` and the standard `sdpMLineIndex`/`sdpMid`.
   */
  async handleCandidate(c: CandidateMessage): Promise<void> {
    if (this.closed) return;
    this.counters.candidatesReceived++;
    const init: RTCIceCandidateInit = {
      candidate: c.candidate,
      sdpMid: c.sdpMid ?? c.id ?? null,
      sdpMLineIndex: c.sdpMLineIndex ?? c.label ?? null,
    };
    if (c.usernameFragment) init.usernameFragment = c.usernameFragment;
    if (!this.pc.remoteDescription) {
      this.counters.candidatesQueued++;
      this.pendingCandidates.push(init);
      if (this.pendingCandidates.length > 500) this.pendingCandidates.shift();
      return;
    }
    await this.addCandidate(init);
  }

  private async flushCandidates(): Promise<void> {
    const queued = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const init of queued) await this.addCandidate(init);
  }

  private async addCandidate(init: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(init);
    } catch (err) {
      // Candidates of an offer we ignored, or of an older ICE generation, are expected to fail.
      if (!this.ignoreOffer) {
        this.counters.errors++;
        this.log(`could not add an ICE candidate: ${String(err)}`);
      }
    }
  }

  /** `RTCPeerConnection.connectionState` now. */
  get connectionState(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  /**
   * Use `iceServers` from now on (fresh TURN REST credentials): they serve the next gathering,
   * i.e. an ICE restart (`RTCPeerConnection.setConfiguration`). Never throws: a refusal is logged.
   */
  setIceServers(iceServers: RTCIceServer[]): void {
    if (this.closed || this.pc.connectionState === 'closed') return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (err) {
      this.log(`could not update the ICE servers: ${String(err)}`);
    }
  }

  /** Start an ICE restart (RFC 8445 §9): new ICE credentials through a new offer. */
  restartIce(): void {
    if (this.closed) return;
    this.counters.iceRestarts++;
    this.log('ICE restart');
    this.pc.restartIce();
  }

  /**
   * Send our current local offer again when it is still waiting for its answer
   * (`have-local-offer`): used when the other person re-joined the room, since what we sent while
   * they were away was relayed to nobody. A duplicate is harmless: the other side answers the
   * same offer again and a second answer is dropped ({@link NegotiationCounters.staleAnswers}).
   * @returns true when the offer was sent again.
   */
  resendLocalOffer(): boolean {
    const desc = this.pc.localDescription;
    if (this.closed || this.makingOffer || this.pc.signalingState !== 'have-local-offer' || desc?.type !== 'offer') return false;
    this.counters.offersResent++;
    this.log('sending our unanswered offer again');
    this.opts.callbacks.send({ type: 'offer', sdp: desc.sdp }, () => this.closed);
    return true;
  }

  /**
   * Send a chat message over the data channel.
   * @returns false when the channel is not open or the text is empty/too long (> MAX_CHAT_LENGTH).
   */
  sendChat(text: string, sentAt = Date.now()): boolean {
    if (this.chat.readyState !== 'open' || text.length === 0 || text.length > MAX_CHAT_LENGTH) return false;
    this.chat.send(JSON.stringify({ text, sentAt }));
    return true;
  }

  /** Swap the outgoing track of `kind` without renegotiation (`RTCRtpSender.replaceTrack`). */
  async replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void> {
    const sender = kind === 'audio' ? this.audioSender : this.videoSender;
    if (kind === 'audio') this.opts.audioTrack = track;
    else this.opts.videoTrack = track;
    if (sender && !this.closed) await sender.replaceTrack(track);
  }

  /** Close the connection; afterwards every method is a no-op. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pendingCandidates = [];
    try {
      this.chat.close();
    } catch {
      /* ignore */
    }
    this.pc.close();
    this.opts.callbacks.chatState?.(false);
  }

  private log(msg: string): void {
    const line = `[pc ${this.number}] ${msg}`;
    console.log(line);
    this.opts.callbacks.log?.(line);
  }
}
