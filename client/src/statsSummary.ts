/**
 * What the stats panel shows, computed from an `RTCPeerConnection.getStats()` report (W3C
 * webrtc-stats): selected ICE candidate pair, RTT, bitrate in/out, packet loss, jitter, frame
 * rate, resolution and codecs each way. No DOM here (statsPanel.ts draws it).
 */
import { t } from './i18n/index.js';

/** One direction of one media kind. */
export interface DirectionStats {
  /** kbit/s over the last interval. */
  kbps: number | null;
  codec: string | null;
  /** Frames per second (video). */
  fps: number | null;
  /** `WIDTHxHEIGHT` (video). */
  resolution: string | null;
  /** Packet loss in % (inbound: lost/(lost+received); outbound: the far side's fractionLost). */
  lossPct: number | null;
  /** Jitter in ms (inbound: measured here; outbound: reported by the far side). */
  jitterMs: number | null;
}

/** Everything the panel shows. */
export interface StatsSummary {
  /** e.g. `host udp 127.0.0.1:50000 ⇄ host 127.0.0.1:50001`. */
  localCandidate: { type: string; address: string; port: number; protocol: string; relayProtocol: string | null } | null;
  remoteCandidate: { type: string; address: string; port: number; protocol: string } | null;
  /** Round-trip time of the selected pair, ms. */
  rttMs: number | null;
  /** Totals over audio + video, kbit/s. */
  kbpsIn: number | null;
  kbpsOut: number | null;
  video: { in: DirectionStats; out: DirectionStats };
  audio: { in: DirectionStats; out: DirectionStats };
}

/** Raw counters kept between two samples to compute rates. */
export interface StatsSample {
  at: number;
  bytes: Map<string, number>;
}

type Stat = Record<string, unknown> & { id: string; type: string };

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function emptyDirection(): DirectionStats {
  return { kbps: null, codec: null, fps: null, resolution: null, lossPct: null, jitterMs: null };
}

/**
 * Summarize a stats report.
 * @param report  from `pc.getStats()`.
 * @param prev    the previous sample (for bitrates), or undefined on the first call.
 * @param now     timestamp of this sample, ms.
 * @returns the summary and the sample to pass next time.
 */
export function summarizeStats(report: RTCStatsReport, prev: StatsSample | undefined, now = performance.now()): { summary: StatsSummary; sample: StatsSample } {
  const byId = new Map<string, Stat>();
  report.forEach((s: Stat) => byId.set(s.id, s));
  const sample: StatsSample = { at: now, bytes: new Map() };
  const summary: StatsSummary = {
    localCandidate: null,
    remoteCandidate: null,
    rttMs: null,
    kbpsIn: null,
    kbpsOut: null,
    video: { in: emptyDirection(), out: emptyDirection() },
    audio: { in: emptyDirection(), out: emptyDirection() },
  };
  const rate = (key: string, bytes: number | null): number | null => {
    if (bytes === null) return null;
    sample.bytes.set(key, bytes);
    const before = prev?.bytes.get(key);
    if (before === undefined || !prev || now <= prev.at) return null;
    return Math.max(0, ((bytes - before) * 8) / (now - prev.at)); // bits per ms = kbit/s
  };
  const codecOf = (s: Stat): string | null => {
    const c = byId.get(String(s.codecId ?? ''));
    if (!c) return null;
    const mime = str(c.mimeType)?.replace(/^(audio|video)\//, '') ?? '?';
    return `${mime}${c.clockRate ? `/${c.clockRate}` : ''}`;
  };
  const add = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : a + b);

  for (const s of byId.values()) {
    const kind = s.kind === 'video' ? 'video' : s.kind === 'audio' ? 'audio' : null;
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = byId.get(String(s.selectedCandidatePairId));
      if (pair) {
        const l = byId.get(String(pair.localCandidateId));
        const r = byId.get(String(pair.remoteCandidateId));
        const rtt = num(pair.currentRoundTripTime);
        summary.rttMs = rtt === null ? null : rtt * 1000;
        if (l)
          summary.localCandidate = {
            type: str(l.candidateType) ?? '?',
            address: str(l.address) ?? str(l.ip) ?? '?',
            port: num(l.port) ?? 0,
            protocol: str(l.protocol) ?? '?',
            relayProtocol: str(l.relayProtocol),
          };
        if (r) summary.remoteCandidate = { type: str(r.candidateType) ?? '?', address: str(r.address) ?? str(r.ip) ?? '?', port: num(r.port) ?? 0, protocol: str(r.protocol) ?? '?' };
      }
    }
    if (!kind) continue;
    if (s.type === 'inbound-rtp') {
      const d = summary[kind].in;
      const k = rate(`in:${s.id}`, num(s.bytesReceived));
      d.kbps = add(d.kbps, k);
      summary.kbpsIn = add(summary.kbpsIn, k);
      d.codec = codecOf(s) ?? d.codec;
      const lost = num(s.packetsLost);
      const recv = num(s.packetsReceived);
      if (lost !== null && recv !== null && lost + recv > 0) d.lossPct = (100 * Math.max(0, lost)) / (Math.max(0, lost) + recv);
      const jitter = num(s.jitter);
      if (jitter !== null) d.jitterMs = jitter * 1000;
      if (kind === 'video') {
        d.fps = num(s.framesPerSecond) ?? d.fps;
        if (num(s.frameWidth)) d.resolution = `${s.frameWidth}x${s.frameHeight}`;
      }
    } else if (s.type === 'outbound-rtp') {
      const d = summary[kind].out;
      const k = rate(`out:${s.id}`, num(s.bytesSent));
      d.kbps = add(d.kbps, k);
      summary.kbpsOut = add(summary.kbpsOut, k);
      d.codec = codecOf(s) ?? d.codec;
      if (kind === 'video') {
        d.fps = num(s.framesPerSecond) ?? d.fps;
        if (num(s.frameWidth)) d.resolution = `${s.frameWidth}x${s.frameHeight}`;
      }
    } else if (s.type === 'remote-inbound-rtp') {
      const d = summary[kind].out;
      const fl = num(s.fractionLost);
      if (fl !== null) d.lossPct = fl * 100;
      const jitter = num(s.jitter);
      if (jitter !== null) d.jitterMs = jitter * 1000;
      if (summary.rttMs === null) {
        const rtt = num(s.roundTripTime);
        if (rtt !== null) summary.rttMs = rtt * 1000;
      }
    }
  }
  return { summary, sample };
}

const fmt = (v: number | null, digits = 0): string => (v === null ? '–' : v.toFixed(digits));

function directionText(d: DirectionStats, video: boolean): string {
  const parts = [t('stats.kbps', { value: fmt(d.kbps) }), d.codec ?? '–'];
  if (video) parts.push(d.resolution ?? '–', t('stats.fps', { value: fmt(d.fps) }));
  parts.push(t('stats.loss', { value: fmt(d.lossPct, 1) }), t('stats.jitter', { value: fmt(d.jitterMs) }));
  return parts.join(' · ');
}

/** Rows (label, value) of the stats table, in the current language. */
export function statsRows(s: StatsSummary): [string, string][] {
  const l = s.localCandidate;
  const r = s.remoteCandidate;
  const local = l ? `${l.type} ${l.protocol} ${l.address}:${l.port}` : '–';
  return [
    [t('stats.localCandidate'), l?.relayProtocol ? t('stats.relayOver', { candidate: local, protocol: l.relayProtocol }) : local],
    [t('stats.remoteCandidate'), r ? `${r.type} ${r.protocol} ${r.address}:${r.port}` : '–'],
    [t('stats.rtt'), t('stats.ms', { value: fmt(s.rttMs) })],
    [t('stats.bitrate'), `${t('stats.kbps', { value: fmt(s.kbpsIn) })} / ${t('stats.kbps', { value: fmt(s.kbpsOut) })}`],
    [t('stats.videoIn'), directionText(s.video.in, true)],
    [t('stats.videoOut'), directionText(s.video.out, true)],
    [t('stats.audioIn'), directionText(s.audio.in, false)],
    [t('stats.audioOut'), directionText(s.audio.out, false)],
  ];
}
