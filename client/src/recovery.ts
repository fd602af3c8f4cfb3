/**
 * Outage recovery of a call's peer connection: when to restart ICE, when to build a new
 * connection, when to say the connection failed and when to stop trying. No DOM, no
 * RTCPeerConnection: it sees the connection through {@link RecoveryPeer} and acts through
 * {@link RecoveryHost}; timers come from an injectable {@link Clock} (fake timers in tests).
 *
 * An "outage" begins when the connection goes `disconnected` or `failed` and ends only when a
 * connection of this call is `connected` again (or the other person leaves, or we do: the owner
 * calls {@link OutageRecovery.reset}). Its budget ({@link ICE_RESTART_DELAYS_MS}.length ICE
 * restarts, {@link MAX_REBUILDS} rebuilds and a deadline) belongs to the outage, not to one peer
 * connection: the other side's rebuild or ICE restart does not reset it.
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
 */
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/** How long `disconnected` may last before the impolite side restarts ICE, ms. */
export const DISCONNECTED_GRACE_MS = 1500;
/** Delays before ICE restart attempts 1, 2, 3 of one outage (ms); afterwards a new connection is built. */
export const ICE_RESTART_DELAYS_MS = [0, 2000, 4000];
/** How long one ICE restart may take (offer/answer through and `connected`) before the next step, ms. */
export const ICE_RESTART_TIMEOUT_MS = 6000;
/** How often a running ICE restart checks whether the connection is up, ms. */
export const ICE_RESTART_POLL_MS = 250;
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

/** What recovery needs of a peer connection (`PeerSession` has it). */
export interface RecoveryPeer {
  /** Perfect-negotiation role: the impolite side drives ICE restarts. */
  readonly polite: boolean;
  readonly closed: boolean;
  /** `RTCPeerConnection.connectionState` now. */
  readonly connectionState: RTCPeerConnectionState;
  /** Start an ICE restart (RFC 8445 §9; JSEP RFC 8829 §4.1.1 `restartIce`). */
  restartIce(): void;
}

/** What the call should show about its connection. */
export type RecoveryStatus =
  | { kind: 'connected' }
  /** Repairing; `attempt` (1, 2, …) while an ICE restart runs. */
  | { kind: 'reconnecting'; attempt?: number }
  /** The failure message: it stays until a connection comes up. */
  | { kind: 'failed'; neverConnected: boolean; gaveUp: boolean };

/** How {@link OutageRecovery} acts on the call. */
export interface RecoveryHost {
  /** The call's current peer connection, or null. */
  currentPeer(): RecoveryPeer | null;
  /** Close the current connection and build a new one that offers; returns it (a rebuild). */
  createPeer(): RecoveryPeer;
  /**
   * Resolve once the ICE servers are good for an ICE restart (TURN REST credentials not too old)
   * and given to the current connection; at once when they already are. Never rejects.
   */
  freshIceServers(): Promise<void>;
  /** True while the other person holds the other seat. */
  otherPresent(): boolean;
  status(status: RecoveryStatus): void;
  log(msg: string): void;
}

/** What {@link OutageRecovery.state} returns (for tests and debugging). */
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

/** One outage: from the first `disconnected`/`failed` until a connection is `connected` again. */
interface Outage {
  /** {@link Clock.now} when it began. */
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
  /** Fires {@link OutageRecovery.giveUp} at the outage's deadline. */
  deadline: TimerHandle;
}

/**
 * The recovery rules of one call (see the module comment). The owner reports peer connections
 * ({@link peerCreated}, {@link peerClosed}) and their states ({@link connectionStateChanged}) and
 * calls {@link reset} when the call's connection history no longer counts (new person, Leave).
 */
export class OutageRecovery {
  /** Peer connections rebuilt over the whole page (every outage). */
  totalRebuilds = 0;
  private outage: Outage | undefined;
  private connectedOnce = false;
  private disconnectedTimer: TimerHandle | undefined;
  /** The running ICE restart or rebuild (its delay, poll or timeout). */
  private restartTimer: TimerHandle | undefined;
  private politeWatchdog: TimerHandle | undefined;
  private connectTimer: TimerHandle | undefined;

  constructor(
    private readonly host: RecoveryHost,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Recovery state (read by tests and for debugging). */
  state(): RecoveryState {
    const o = this.outage;
    return {
      connectedOnce: this.connectedOnce,
      inOutage: !!o,
      neverConnected: o?.neverConnected ?? false,
      outageMs: o ? this.clock.now() - o.startedAt : 0,
      restarts: o?.restarts ?? 0,
      rebuilds: o?.rebuilds ?? 0,
      failureShown: o?.failureShown ?? false,
      gaveUp: o?.gaveUp ?? false,
    };
  }

  /** A new peer connection became the current one: a call that never connected starts its {@link CONNECT_TIMEOUT_MS}. */
  peerCreated(): void {
    if (this.connectedOnce || this.connectTimer) return;
    this.connectTimer = this.clock.setTimeout(() => {
      this.connectTimer = undefined;
      if (this.connectedOnce || !this.host.currentPeer() || this.outage?.failureShown) return;
      this.host.log(`not connected ${CONNECT_TIMEOUT_MS} ms after the first peer connection`);
      this.beginOutage();
      this.showFailure();
    }, CONNECT_TIMEOUT_MS);
  }

  /** The current peer connection was closed: stop its recovery timers (the outage and its deadline stay). */
  peerClosed(): void {
    this.clearRecoveryTimers();
  }

  /** Forget the call's connection history (other person left, Leave, Join): no outage, not connected once. */
  reset(): void {
    this.endOutage();
    this.clearConnectTimer();
    this.connectedOnce = false;
  }

  /** A new attempt with the other person (they joined): a fresh outage budget and connect timeout. */
  newAttempt(): void {
    this.endOutage();
    this.clearConnectTimer();
  }

  /**
   * The other person is back after a signaling drop while `peer` still stands and this side is now
   * impolite: what we sent meanwhile reached nobody, so a `disconnected` connection is repaired
   * from here at once.
   */
  otherRejoined(peer: RecoveryPeer): void {
    if (peer.connectionState === 'disconnected' && !this.outage?.gaveUp && !this.restartTimer) this.recover(peer);
  }

  /** The current connection `peer` changed state (`RTCPeerConnection.connectionState`). */
  connectionStateChanged(peer: RecoveryPeer, state: RTCPeerConnectionState): void {
    this.host.log(`connection ${state}`);
    switch (state) {
      case 'connected':
        this.clearRecoveryTimers();
        this.clearConnectTimer();
        this.endOutage();
        this.connectedOnce = true;
        this.host.status({ kind: 'connected' });
        break;
      case 'disconnected': {
        const o = this.beginOutage();
        if (o.failureShown) this.showFailure();
        else this.host.status({ kind: 'reconnecting' });
        if (o.gaveUp) break;
        if (!peer.polite && !this.disconnectedTimer && !this.restartTimer) {
          this.disconnectedTimer = this.clock.setTimeout(() => {
            this.disconnectedTimer = undefined;
            if (this.host.currentPeer() === peer && peer.connectionState === 'disconnected' && !this.restartTimer) this.recover(peer);
          }, DISCONNECTED_GRACE_MS);
        }
        this.armPoliteWatchdog(peer);
        break;
      }
      case 'failed': {
        const o = this.beginOutage();
        if (o.neverConnected || o.failureShown) this.showFailure();
        else this.host.status({ kind: 'reconnecting' });
        if (o.gaveUp) break;
        if (!peer.polite) {
          if (this.disconnectedTimer) this.clock.clearTimeout(this.disconnectedTimer);
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

  /**
   * Replace a connection that could not be repaired by a new one (we offer; the other side
   * replaces its own on the new SDP session id), or give up when this outage already used
   * {@link MAX_REBUILDS}. Starts an outage when there is none (e.g. called from the debug handle).
   */
  rebuild(): void {
    const o = this.beginOutage();
    if (o.gaveUp) return;
    if (o.rebuilds >= MAX_REBUILDS) {
      this.giveUp(o);
      return;
    }
    o.rebuilds++;
    this.totalRebuilds++;
    this.host.log(`building a new peer connection (rebuild ${o.rebuilds}/${MAX_REBUILDS})`);
    const peer = this.host.createPeer();
    void this.host.freshIceServers();
    this.progress();
    // If the new connection does not come up either: next step (the budget decides).
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.host.currentPeer() !== peer || this.outage !== o || o.gaveUp || peer.connectionState === 'connected') return;
      if (peer.polite) this.rebuild();
      else this.recover(peer);
    }, REBUILD_TIMEOUT_MS);
  }

  // ---------------------------------------------------------------- outages

  /** The current outage, or a new one (with its deadline) when there is none. */
  private beginOutage(): Outage {
    if (this.outage) return this.outage;
    const neverConnected = !this.connectedOnce;
    const budgetMs = neverConnected ? NEVER_CONNECTED_RETRY_MS : OUTAGE_GIVE_UP_MS;
    const o: Outage = {
      startedAt: this.clock.now(),
      neverConnected,
      restarts: 0,
      rebuilds: 0,
      failureShown: false,
      gaveUp: false,
      deadline: this.clock.setTimeout(() => this.giveUp(o), budgetMs),
    };
    this.outage = o;
    this.host.log(`outage began (${neverConnected ? 'never connected' : 'was connected'}; recovery stops after ${budgetMs} ms)`);
    return o;
  }

  /** The connection is back (or the call is over): forget the outage and its budget. */
  private endOutage(): void {
    const o = this.outage;
    if (!o) return;
    this.clock.clearTimeout(o.deadline);
    this.outage = undefined;
    this.host.log(`outage over after ${this.clock.now() - o.startedAt} ms (${o.restarts} ICE restarts, ${o.rebuilds} rebuilds${o.gaveUp ? ', after giving up' : ''})`);
  }

  /** Stop recovering: the failure message stays until a connection comes up by itself or from the other side. */
  private giveUp(o: Outage): void {
    if (this.outage !== o || o.gaveUp) return;
    o.gaveUp = true;
    this.clearRecoveryTimers();
    this.host.log(`giving up after ${this.clock.now() - o.startedAt} ms (${o.restarts} ICE restarts, ${o.rebuilds} rebuilds)`);
    this.showFailure();
  }

  /** Show the failure message of the current outage (it stays until a connection comes up). */
  private showFailure(): void {
    const o = this.outage;
    if (!o) return;
    if (!o.failureShown) this.host.log(`failure shown (${o.neverConnected ? 'never connected' : 'was connected'}${o.gaveUp ? ', gave up' : ''})`);
    o.failureShown = true;
    this.host.status({ kind: 'failed', neverConnected: o.neverConnected, gaveUp: o.gaveUp });
  }

  /** "Reconnecting…" (with the attempt), unless the failure message is up: it stays until a connection comes up. */
  private progress(attempt?: number): void {
    if (this.outage?.failureShown) this.showFailure();
    else this.host.status(attempt === undefined ? { kind: 'reconnecting' } : { kind: 'reconnecting', attempt });
  }

  // ---------------------------------------------------------------- steps

  /**
   * Impolite side: next recovery step of the current outage: an ICE restart with backoff, then a
   * new connection; gives up when the outage's budget is used. `extraDelayMs` is added before the
   * first step.
   */
  private recover(peer: RecoveryPeer, extraDelayMs = 0): void {
    if (this.host.currentPeer() !== peer || peer.closed) return;
    const o = this.beginOutage();
    if (o.gaveUp) return;
    if (this.restartTimer) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (o.restarts >= ICE_RESTART_DELAYS_MS.length) {
      this.rebuild();
      return;
    }
    const delay = ICE_RESTART_DELAYS_MS[o.restarts]! + extraDelayMs;
    o.restarts++;
    const attempt = o.restarts;
    const stale = () => this.host.currentPeer() !== peer || peer.closed || this.outage !== o || o.gaveUp;
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (stale()) return;
      if (peer.connectionState === 'connected') {
        this.connectionStateChanged(peer, 'connected');
        return;
      }
      this.host.log(`ICE restart attempt ${attempt}/${ICE_RESTART_DELAYS_MS.length}`);
      this.progress(attempt);
      // Keep the timer slot taken while fresh credentials are fetched (if they are needed).
      this.restartTimer = this.clock.setTimeout(() => undefined, ICE_RESTART_TIMEOUT_MS);
      void this.host.freshIceServers().then(() => {
        if (stale()) return;
        if (this.restartTimer) this.clock.clearTimeout(this.restartTimer);
        peer.restartIce();
        // Done when the connection is up (no event fires when the state never left "connected"
        // during the restart, so poll). The restart's answer may come later: it is applied then.
        const started = this.clock.now();
        const poll = () => {
          this.restartTimer = undefined;
          if (stale()) return;
          if (peer.connectionState === 'connected') {
            this.connectionStateChanged(peer, 'connected');
          } else if (this.clock.now() - started >= ICE_RESTART_TIMEOUT_MS) {
            this.recover(peer);
          } else {
            this.restartTimer = this.clock.setTimeout(poll, ICE_RESTART_POLL_MS);
          }
        };
        this.restartTimer = this.clock.setTimeout(poll, ICE_RESTART_POLL_MS);
      });
    }, delay);
  }

  private armPoliteWatchdog(peer: RecoveryPeer): void {
    if (!peer.polite || this.politeWatchdog || this.outage?.gaveUp) return;
    this.politeWatchdog = this.clock.setTimeout(() => {
      this.politeWatchdog = undefined;
      if (this.host.currentPeer() === peer && peer.connectionState !== 'connected' && this.host.otherPresent() && !this.outage?.gaveUp) {
        this.host.log('connection still broken: polite side rebuilds');
        this.rebuild();
      }
    }, POLITE_WATCHDOG_MS);
  }

  /** Timers of the current connection's recovery (not the outage's deadline nor the connect timeout). */
  private clearRecoveryTimers(): void {
    for (const t of [this.disconnectedTimer, this.restartTimer, this.politeWatchdog]) if (t) this.clock.clearTimeout(t);
    this.disconnectedTimer = this.restartTimer = this.politeWatchdog = undefined;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer) this.clock.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}
