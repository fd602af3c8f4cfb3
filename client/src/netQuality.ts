/**
 * The network-quality indicator: each page measures its own side of the call from `getStats()`
 * (W3C webrtc-stats) every {@link SAMPLE_MS}, classifies it as good / fair / poor, and sends its level
 * to the other page over the room; each page shows both. No DOM here.
 *
 * Inputs, over the last {@link WINDOW_SAMPLES} samples (≈ 6 s):
 * - loss: the larger of the receive loss (`inbound-rtp` packetsLost / (lost + received), audio and
 *   video together) and the send loss the other end reports (`remote-inbound-rtp` fractionLost);
 * - RTT: the selected candidate pair's `currentRoundTripTime` (else `remote-inbound-rtp` roundTripTime);
 * - available bitrate: the selected pair's `availableOutgoingBitrate` (Chromium's bandwidth
 *   estimate; Firefox does not report it, and the level then rests on loss and RTT).
 *
 * Thresholds ({@link THRESHOLDS}): good when loss < 2 %, RTT < 250 ms and available ≥ 150 kbit/s;
 * poor when loss ≥ 8 %, RTT ≥ 500 ms or available < 50 kbit/s; fair in between. These follow
 * ITU-T G.114 (one-way delay up to ≈ 150 ms is fine for talk, beyond 250 ms people talk over each
 * other) and what Opus/VP8 conceal: a few % loss shows, ≥ 8 % breaks words and freezes video. A level
 * gets worse at once and better only after two samples in a row agree (no flicker).
 */
import type { NetQualityLevel } from '../../contracts/signaling.js';
import type { CallExtension, CallRoom, ExtensionMessage } from './callExtension.js';
import type { PeerSession } from './peerSession.js';

/** Sampling period, ms. */
export const SAMPLE_MS = 2000;
/** Loss is measured over this many sampling periods. */
export const WINDOW_SAMPLES = 3;

/** Where each level starts (see the module comment). */
export const THRESHOLDS = {
  good: { maxLossPct: 2, maxRttMs: 250, minAvailableKbps: 150 },
  fair: { maxLossPct: 8, maxRttMs: 500, minAvailableKbps: 50 },
} as const;

/** One measurement of this side. Null: not reported (the level then rests on the others). */
export interface NetMeasure {
  lossPct: number | null;
  rttMs: number | null;
  availableKbps: number | null;
}

const RANK: Record<NetQualityLevel, number> = { good: 0, fair: 1, poor: 2 };

/** The worse of two levels (null = unknown, ignored). */
export function worse(a: NetQualityLevel | null, b: NetQualityLevel | null): NetQualityLevel | null {
  if (a === null) return b;
  if (b === null) return a;
  return RANK[a] >= RANK[b] ? a : b;
}

/** The level of a measurement (thresholds above). */
export function classify(m: NetMeasure): NetQualityLevel {
  const within = (t: (typeof THRESHOLDS)[keyof typeof THRESHOLDS]) =>
    (m.lossPct === null || m.lossPct < t.maxLossPct) && (m.rttMs === null || m.rttMs < t.maxRttMs) && (m.availableKbps === null || m.availableKbps >= t.minAvailableKbps);
  if (within(THRESHOLDS.good)) return 'good';
  if (within(THRESHOLDS.fair)) return 'fair';
  return 'poor';
}

/** Counters read from one stats report. */
export interface NetCounters {
  /** inbound-rtp, audio + video. */
  lost: number;
  received: number;
  /** Largest remote-inbound-rtp fractionLost (0..1), or null. */
  remoteFractionLost: number | null;
  rttMs: number | null;
  availableKbps: number | null;
}

type Stat = Record<string, unknown> & { id: string; type: string };
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Read {@link NetCounters} from a stats report. */
export function readCounters(report: RTCStatsReport): NetCounters {
  const byId = new Map<string, Stat>();
  report.forEach((s: Stat) => byId.set(s.id, s));
  const c: NetCounters = { lost: 0, received: 0, remoteFractionLost: null, rttMs: null, availableKbps: null };
  let remoteRtt: number | null = null;
  for (const s of byId.values()) {
    if (s.type === 'inbound-rtp') {
      c.lost += Math.max(0, num(s.packetsLost) ?? 0);
      c.received += num(s.packetsReceived) ?? 0;
    } else if (s.type === 'remote-inbound-rtp') {
      const fl = num(s.fractionLost);
      if (fl !== null) c.remoteFractionLost = Math.max(c.remoteFractionLost ?? 0, fl);
      remoteRtt = num(s.roundTripTime) ?? remoteRtt;
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = byId.get(String(s.selectedCandidatePairId));
      const rtt = num(pair?.currentRoundTripTime);
      if (rtt !== null) c.rttMs = rtt * 1000;
      const avail = num(pair?.availableOutgoingBitrate);
      if (avail !== null) c.availableKbps = avail / 1000;
    }
  }
  // Firefox: no transport stats; its selected pair is the candidate-pair marked selected.
  if (c.rttMs === null) {
    for (const s of byId.values()) {
      if (s.type === 'candidate-pair' && (s.selected === true || s.nominated === true) && s.state === 'succeeded') {
        const rtt = num(s.currentRoundTripTime);
        if (rtt !== null) c.rttMs = rtt * 1000;
      }
    }
  }
  if (c.rttMs === null && remoteRtt !== null) c.rttMs = remoteRtt * 1000;
  return c;
}

/** The measurement between an older and a newer sample. */
export function measure(older: NetCounters | undefined, newer: NetCounters): NetMeasure {
  let lossPct: number | null = null;
  if (older) {
    const lost = Math.max(0, newer.lost - older.lost);
    const received = Math.max(0, newer.received - older.received);
    if (lost + received > 0) lossPct = (100 * lost) / (lost + received);
  }
  if (newer.remoteFractionLost !== null) lossPct = Math.max(lossPct ?? 0, newer.remoteFractionLost * 100);
  return { lossPct, rttMs: newer.rttMs, availableKbps: newer.availableKbps };
}

/** What the indicator shows. */
export interface NetQualityState {
  mine: NetQualityLevel | null;
  theirs: NetQualityLevel | null;
  /** The worse of both: the call's quality as this page sees it. */
  overall: NetQualityLevel | null;
  /** The last measurement of this side. */
  measure: NetMeasure | null;
}

/** Measures this side, exchanges levels (see the module comment). */
export class NetQualityMonitor implements CallExtension {
  private mine: NetQualityLevel | null = null;
  private theirs: NetQualityLevel | null = null;
  private last: NetMeasure | null = null;
  /** A better level seen once, waiting for confirmation. */
  private candidate: NetQualityLevel | null = null;
  private history: NetCounters[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private peer: PeerSession | null = null;

  constructor(
    private readonly call: CallRoom,
    private readonly show: (state: NetQualityState) => void,
  ) {}

  get state(): NetQualityState {
    return { mine: this.mine, theirs: this.theirs, overall: worse(this.mine, this.theirs), measure: this.last };
  }

  peerConnectionState(peer: PeerSession, state: RTCPeerConnectionState): void {
    if (state === 'connected' && this.peer !== peer) {
      this.peer = peer;
      this.history = [];
      clearInterval(this.timer);
      this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    }
  }

  peerClosed(): void {
    this.stop();
  }

  left(): void {
    this.stop();
    this.theirs = null;
    this.render();
  }

  otherLeft(): void {
    this.theirs = null;
    this.render();
  }

  otherArrived(): void {
    if (this.mine) this.call.sendRoomMessage({ type: 'netQuality', level: this.mine });
  }

  message(data: ExtensionMessage): void {
    if (data.type !== 'netQuality') return;
    this.theirs = data.level;
    this.render();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.peer = null;
    this.history = [];
    this.mine = this.candidate = null;
    this.last = null;
    this.render();
  }

  private async sample(): Promise<void> {
    const peer = this.peer;
    if (!peer || peer.closed) return;
    let counters: NetCounters;
    try {
      counters = readCounters(await peer.pc.getStats());
    } catch {
      return;
    }
    if (peer !== this.peer) return;
    this.history.push(counters);
    if (this.history.length > WINDOW_SAMPLES + 1) this.history.shift();
    const m = measure(this.history.length > 1 ? this.history[0] : undefined, counters);
    this.last = m;
    const level = classify(m);
    let next = this.mine;
    if (this.mine === null || RANK[level] > RANK[this.mine]) {
      next = level;
      this.candidate = null;
    } else if (RANK[level] < RANK[this.mine]) {
      if (this.candidate === level) {
        next = level;
        this.candidate = null;
      } else this.candidate = level;
    } else this.candidate = null;
    if (next !== this.mine) {
      this.mine = next;
      if (next) this.call.sendRoomMessage({ type: 'netQuality', level: next });
    }
    this.render();
  }

  private render(): void {
    this.show(this.state);
  }
}
