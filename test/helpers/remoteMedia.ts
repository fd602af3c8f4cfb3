/**
 * What the call page receives, read the same way in Chromium and Firefox: inbound-rtp counters of
 * the page's current peer connection (`window.__call.call.peer.pc`), the selected candidate pair,
 * and the `<video id=remoteVideo>` element's own progress.
 *
 * Engine differences handled here:
 * - Firefox counts no `getVideoPlaybackQuality()` frames for a MediaStream source; it has
 *   `mozPaintedFrames`. {@link RemoteMedia.paintedFrames} is whichever the engine counts.
 * - Firefox's stats have no `transport.selectedCandidatePairId`; its selected pair is the
 *   `candidate-pair` with `selected: true` (or the nominated, succeeded one).
 */
import type { PeerPage } from './peerPage.js';

/** One sample of what a page receives. */
export interface RemoteMedia {
  /** `performance.now()` in the page, ms. */
  at: number;
  connectionState: string | null;
  framesDecoded: number;
  videoBytes: number;
  /** inbound-rtp video frame size (0 when not reported yet). */
  frameWidth: number;
  frameHeight: number;
  audioBytes: number;
  /** inbound-rtp audio `totalAudioEnergy` (grows only while the received audio is not silent). */
  audioEnergy: number;
  /** `<video id=remoteVideo>` intrinsic size, playback position (s) and frames painted. */
  videoWidth: number;
  videoHeight: number;
  currentTime: number;
  paintedFrames: number;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
}

/** Read one {@link RemoteMedia} sample from `p`. */
export function remoteMedia(p: PeerPage): Promise<RemoteMedia> {
  return p.evaluate(async () => {
    const w = window as unknown as { __call?: { call: { peer: null | { pc: RTCPeerConnection } } } };
    const video = document.getElementById('remoteVideo') as (HTMLVideoElement & { mozPaintedFrames?: number }) | null;
    const pc = w.__call?.call.peer?.pc;
    const r = {
      at: performance.now(),
      connectionState: pc ? pc.connectionState : null,
      framesDecoded: 0,
      videoBytes: 0,
      frameWidth: 0,
      frameHeight: 0,
      audioBytes: 0,
      audioEnergy: 0,
      videoWidth: video?.videoWidth ?? 0,
      videoHeight: video?.videoHeight ?? 0,
      currentTime: video?.currentTime ?? 0,
      paintedFrames: video ? (typeof video.mozPaintedFrames === 'number' ? video.mozPaintedFrames : video.getVideoPlaybackQuality().totalVideoFrames) : 0,
      localCandidateType: null as string | null,
      remoteCandidateType: null as string | null,
    };
    if (!pc) return r;
    const byId = new Map<string, Record<string, unknown>>();
    (await pc.getStats()).forEach((s: Record<string, unknown>) => byId.set(String(s.id), s));
    let pair: Record<string, unknown> | undefined;
    for (const s of byId.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        r.framesDecoded += Number(s.framesDecoded ?? 0);
        r.videoBytes += Number(s.bytesReceived ?? 0);
        if (Number(s.frameWidth ?? 0) > 0) {
          r.frameWidth = Number(s.frameWidth);
          r.frameHeight = Number(s.frameHeight);
        }
      } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        r.audioBytes += Number(s.bytesReceived ?? 0);
        r.audioEnergy += Number(s.totalAudioEnergy ?? 0);
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        pair = byId.get(String(s.selectedCandidatePairId));
      }
    }
    pair ??= [...byId.values()].find((s) => s.type === 'candidate-pair' && s.selected === true);
    pair ??= [...byId.values()].find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded');
    if (pair) {
      r.localCandidateType = String(byId.get(String(pair.localCandidateId))?.candidateType ?? '') || null;
      r.remoteCandidateType = String(byId.get(String(pair.remoteCandidateId))?.candidateType ?? '') || null;
    }
    return r;
  }, null);
}

/** Rates between two samples: decoded and painted frames per second, seconds played, audio energy per second, kbit/s. */
export function rates(
  a: RemoteMedia,
  b: RemoteMedia,
): { fps: number; paintedFps: number; playedS: number; energyPerS: number; audioKbps: number; videoKbps: number } {
  const s = Math.max(1e-3, (b.at - a.at) / 1000);
  return {
    fps: (b.framesDecoded - a.framesDecoded) / s,
    paintedFps: (b.paintedFrames - a.paintedFrames) / s,
    playedS: b.currentTime - a.currentTime,
    energyPerS: (b.audioEnergy - a.audioEnergy) / s,
    audioKbps: ((b.audioBytes - a.audioBytes) * 8) / 1000 / s,
    videoKbps: ((b.videoBytes - a.videoBytes) * 8) / 1000 / s,
  };
}

/** Sample, wait `windowMs`, sample again; returns the rates and the second sample. */
export async function measure(p: PeerPage, windowMs = 2000): Promise<ReturnType<typeof rates> & { last: RemoteMedia }> {
  const a = await remoteMedia(p);
  await new Promise((r) => setTimeout(r, windowMs));
  const b = await remoteMedia(p);
  return { ...rates(a, b), last: b };
}

/**
 * Prove that `p` receives media: waits for the first decoded frame with a sized `<video>`, then
 * over `windowMs` (default 2 000 ms) frames are decoded and painted, the video element plays,
 * and video and audio bytes arrive.
 * @returns the second sample.
 * @throws Error naming what did not progress, with both samples and the page's console.
 */
export async function expectReceiving(p: PeerPage, windowMs = 2000, timeoutMs = 20_000): Promise<RemoteMedia> {
  const deadline = Date.now() + timeoutMs;
  let first = await remoteMedia(p);
  while (!(first.framesDecoded > 0 && first.videoWidth > 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    first = await remoteMedia(p);
  }
  await new Promise((r) => setTimeout(r, windowMs));
  const second = await remoteMedia(p);
  const problems: string[] = [];
  if (!(second.framesDecoded > first.framesDecoded)) problems.push('inbound video framesDecoded did not increase');
  if (!(second.paintedFrames > first.paintedFrames)) problems.push('<video> painted no new frames');
  if (!(second.currentTime > first.currentTime)) problems.push('<video> currentTime did not advance');
  if (!(second.videoBytes > first.videoBytes)) problems.push('video bytesReceived did not increase');
  if (!(second.audioBytes > first.audioBytes)) problems.push('audio bytesReceived did not increase');
  if (!(second.videoWidth > 0 && second.videoHeight > 0)) problems.push('<video> has zero size');
  if (problems.length) {
    throw new Error(`${p.engine}: media not flowing: ${problems.join('; ')}\nfirst ${JSON.stringify(first)}\nsecond ${JSON.stringify(second)}\npage log:\n${p.logs.slice(-40).join('\n')}`);
  }
  return second;
}
