/**
 * The call's current peer connection ({@link PeerSession}) and its lifecycle: make one (offering
 * or answering), replace it when the other side's offer comes from a new connection, close it,
 * and sum negotiation counters over every connection of the page.
 *
 * The SDP `o=` session id (RFC 8866 §5.2) stays the same across renegotiations of one connection,
 * so an offer with another session id than the current remote description's comes from a new
 * connection on the other side (page reload, or a rebuild): ours is replaced by a fresh one that
 * answers it. An answer with another session id is for an older connection of ours and is dropped.
 *
 * Events of a connection that is no longer current are not passed on. No DOM here.
 */
import type { CandidateMessage, MessageData, SessionDescriptionMessage } from '../../contracts/signaling.js';
import type { LocalMedia } from './localMedia.js';
import { PeerSession, sdpSessionId, zeroNegotiationCounters, type NegotiationCounters } from './peerSession.js';

/** What a {@link PeerSlot} tells the call about its current connection. */
export interface PeerSlotEvents {
  /** A connection was made (`offering`: it adds its tracks now and offers). */
  created(peer: PeerSession, offering: boolean): void;
  /** The slot was emptied: its connection (if there was one) is closed; a new one may follow at once. */
  emptied(): void;
  /** Relay to the other person; `stale()` turns true once the sending connection is closed. */
  send(data: MessageData, stale: () => boolean): void;
  remoteStream(stream: MediaStream): void;
  connectionState(peer: PeerSession, state: RTCPeerConnectionState): void;
  chatState(open: boolean): void;
  chatMessage(text: string, sentAt: number): void;
  log(msg: string): void;
}

/** Options of {@link PeerSlot}. */
export interface PeerSlotOptions {
  /** The configuration for the next connection (ICE servers now, transport policy). */
  configuration(): RTCConfiguration;
  /** Perfect-negotiation role for the next connection. */
  polite(): boolean;
  /** Whose tracks a new connection sends. */
  media: LocalMedia;
  events: PeerSlotEvents;
}

/** Counters of a page: every connection's negotiation counters, and how many connections were made. */
export type PageCounters = NegotiationCounters & { peerConnections: number };

/** What a connection made ahead of time ({@link PeerSlot.warm}) sent so far, held back. */
interface Held {
  peer: PeerSession;
  messages: { data: MessageData; stale: () => boolean }[];
}

/** Holds the call's current {@link PeerSession} (see the module comment). */
export class PeerSlot {
  /** The current connection, or null. */
  current: PeerSession | null = null;
  /** The current connection while it is warmed up ahead of the other person (see {@link warm}). */
  private held: Held | null = null;
  /** Counters of the connections already closed, and how many were made. */
  private readonly closedTotals: PageCounters = { ...zeroNegotiationCounters(), peerConnections: 0 };

  constructor(private readonly opts: PeerSlotOptions) {}

  /**
   * A connection that may still carry (or recover) the call: it has a remote description and is
   * neither `failed` nor `closed`.
   */
  isLive(): boolean {
    const p = this.current;
    return !!p && !p.closed && p.pc.remoteDescription !== null && p.connectionState !== 'failed' && p.connectionState !== 'closed';
  }

  /**
   * Close the current connection (if any) and make a new one; `offering` = add tracks now (→ offer).
   * With `ahead` (answering only) the connection is made before the other side's offer is there:
   * it gathers ICE candidates at once (`iceCandidatePoolSize`), so its answer can be checked
   * without waiting, and makes no offer of its own until that offer came.
   */
  create(offering: boolean, ahead = false): PeerSession {
    const peer = this.make(offering, ahead && !offering);
    this.opts.events.created(peer, offering);
    // The page sets up its player for the remote stream now; the tracks join it when they come.
    if (ahead && !offering) this.opts.events.remoteStream(peer.remote);
    return peer;
  }

  /**
   * While nobody else is in the room: make the offering connection now and hold back what it
   * sends (its offer, its ICE candidates) until {@link release}. The offer and the candidate
   * gathering are then done when the other person arrives. The call is told of the connection
   * (`created`) only at {@link release}.
   */
  warm(): void {
    const peer = this.make(true);
    this.held = { peer, messages: [] };
  }

  /** True while the current connection is warmed up and holds back what it sends. */
  get warming(): boolean {
    return this.held !== null && this.held.peer === this.current && !this.held.peer.closed;
  }

  /**
   * The other person arrived: send what the warmed connection held back. When its candidate
   * gathering is complete, the offer goes with every candidate in its SDP (RFC 8839 §5.1: the
   * answerer can check them at once) instead of one message per candidate.
   * @returns false when there is no warmed connection (make one with {@link create}).
   */
  release(): boolean {
    const h = this.held;
    this.held = null;
    if (!h || h.peer !== this.current || h.peer.closed) return false;
    const ev = this.opts.events;
    ev.created(h.peer, true);
    const pc = h.peer.pc;
    const full = pc.iceGatheringState === 'complete' && pc.localDescription?.type === 'offer' ? pc.localDescription.sdp : undefined;
    const stale = () => h.peer.closed;
    if (full) {
      ev.log('sending the offer made ahead of time, with its candidates');
      ev.send({ type: 'offer', sdp: full }, stale);
      for (const m of h.messages) if (m.data !== 'bye' && m.data.type !== 'offer' && m.data.type !== 'candidate') ev.send(m.data, m.stale);
    } else {
      for (const m of h.messages) ev.send(m.data, m.stale);
    }
    return true;
  }

  private make(offering: boolean, ahead = false): PeerSession {
    this.close();
    const ev = this.opts.events;
    const media = this.opts.media;
    const configuration = this.opts.configuration();
    const peer: PeerSession = new PeerSession({
      configuration: ahead ? { ...configuration, iceCandidatePoolSize: 1 } : configuration,
      waitForOffer: ahead,
      polite: this.opts.polite(),
      audioTrack: media.audioTrack,
      videoTrack: media.sentVideoTrack,
      localStream: media.stream,
      addTracksNow: offering,
      callbacks: {
        send: (data, stale) => {
          if (this.held?.peer === peer) this.held.messages.push({ data, stale });
          else ev.send(data, stale);
        },
        remoteStream: (stream) => {
          if (this.current === peer) ev.remoteStream(stream);
        },
        connectionState: (state) => {
          if (this.current === peer) ev.connectionState(peer, state);
        },
        chatState: (open) => {
          if (this.current === peer || !open) ev.chatState(open && this.current === peer);
        },
        chatMessage: (text, sentAt) => ev.chatMessage(text, sentAt),
        log: (msg) => ev.log(msg),
      },
    });
    this.current = peer;
    this.closedTotals.peerConnections++;
    return peer;
  }

  /** Close the current connection, if any (its counters go into the page totals); always ends with `emptied`. */
  close(): void {
    this.held = null;
    const p = this.current;
    if (p) {
      this.current = null;
      for (const k of Object.keys(p.counters) as (keyof NegotiationCounters)[]) this.closedTotals[k] += p.counters[k];
      p.close();
    }
    this.opts.events.emptied();
  }

  /**
   * Apply the other side's offer: to the current connection, or to a new one that answers when
   * there is none or the offer comes from a new connection of theirs.
   * @returns what happened to our connection.
   */
  takeOffer(offer: SessionDescriptionMessage): 'kept' | 'created' | 'replaced' {
    let outcome: 'kept' | 'created' | 'replaced' = 'kept';
    const sid = sdpSessionId(offer.sdp);
    const p = this.current;
    if (!p || p.closed) {
      outcome = 'created';
    } else if (p.remoteSessionId !== undefined && sid !== undefined && sid !== p.remoteSessionId) {
      this.opts.events.log('offer from a new connection of the other person: replacing ours');
      outcome = 'replaced';
    }
    const peer = outcome === 'kept' ? p! : this.create(false);
    void peer.handleDescription(offer);
    return outcome;
  }

  /** Apply the other side's answer to the current connection, unless it is for an older one. */
  takeAnswer(answer: SessionDescriptionMessage): void {
    const peer = this.current;
    if (!peer || peer.closed) return;
    const sid = sdpSessionId(answer.sdp);
    if (peer.remoteSessionId !== undefined && sid !== undefined && sid !== peer.remoteSessionId) {
      this.opts.events.log('dropping an answer for an older connection');
      return;
    }
    void peer.handleDescription(answer);
  }

  /** Give a trickled ICE candidate to the current connection (queued there until it has a remote description). */
  takeCandidate(candidate: CandidateMessage): void {
    if (this.current && !this.current.closed) void this.current.handleCandidate(candidate);
  }

  /** Counters of every connection so far plus the current one. */
  counters(): PageCounters {
    const sum = { ...this.closedTotals };
    const p = this.current;
    if (p) for (const k of Object.keys(p.counters) as (keyof NegotiationCounters)[]) sum[k] += p.counters[k];
    return sum;
  }
}
