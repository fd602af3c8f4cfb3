/// <reference lib="dom" />
/**
 * What a person in a call experiences, measured inside the page: decoded frames per second, video
 * freezes, audio concealment and round-trip time, for the impairment test and
 * `npm run bench:impairment`.
 *
 * {@link startQualitySampler} starts a loop in the page that reads the newest open peer
 * connection's stats every SAMPLE_MS: the video receiver's `inbound-rtp` (framesDecoded, and
 * Chromium's own freezeCount/totalFreezesDuration) each time, the whole report (audio
 * concealedSamples/totalSamplesReceived, the selected pair's currentRoundTripTime, the
 * connection state) every FULL_EVERY samples. Counters are accumulated across peer-connection
 * rebuilds (a new connection starts its counters at 0). Node then computes a window's figures from
 * the samples with {@link qualityOver}.
 *
 * Freezes here are gaps longer than {@link FREEZE_GAP_MS} between samples in which framesDecoded
 * grew (resolution: one sampling period). Chromium's own freeze counters (a frame arriving later
 * than max(3 × the mean frame interval, mean + 150 ms)) are reported alongside.
 */
import type { Page } from 'playwright-core';

/** Sampling period of the page loop, ms. */
export const SAMPLE_MS = 50;
/** Full stats (audio, round trip, connection state) every this many samples. */
const FULL_EVERY = 10;
/** A gap between decoded frames longer than this is a freeze, ms. */
export const FREEZE_GAP_MS = 500;

/** One sample (epoch ms; counters cumulative since the sampler started). */
export interface QualitySample {
  t: number;
  frames: number;
  /** Chromium's inbound-rtp freezeCount / totalFreezesDuration (s), cumulative. */
  chromeFreezes: number;
  chromeFreezeS: number;
  /** Present on full samples only. */
  concealed?: number;
  audioSamples?: number;
  rttMs?: number;
  state?: string;
}

/** Figures of one window. */
export interface QualityWindow {
  /** Window length, s. */
  seconds: number;
  /** Decoded video frames per second. */
  fps: number;
  /** Gaps > FREEZE_GAP_MS between decoded frames (a gap running into the window's end counts). */
  freezes: number;
  /** Longest gap between decoded frames, ms (a freeze or not). */
  longestGapMs: number;
  /** Sum of the freezes' lengths, ms. */
  freezeMs: number;
  /** Each freeze: start (ms after the window's start; negative when it began before) and length, ms. */
  freezeList: Array<{ atMs: number; ms: number }>;
  /** Chromium's freeze counters over the window. */
  chromeFreezes: number;
  chromeFreezeMs: number;
  /** concealedSamples / totalSamplesReceived of audio over the window (0..1); NaN without audio. */
  concealment: number;
  /** Median of the selected pair's currentRoundTripTime, ms; NaN when not reported. */
  rttMs: number;
  /** Connection states seen in the window. */
  states: string[];
}

/**
 * Start (or restart) the in-page sampler. Keeps at most ~30 min of samples.
 */
export async function startQualitySampler(page: Page): Promise<void> {
  await page.evaluate(
    ({ every, fullEvery }) => {
      type W = { __pcs?: RTCPeerConnection[]; __quality?: { stop: () => void; samples: unknown[] } };
      const w = window as unknown as W;
      w.__quality?.stop();
      const samples: Array<Record<string, unknown>> = [];
      const acc = { frames: 0, chromeFreezes: 0, chromeFreezeS: 0, concealed: 0, audioSamples: 0 };
      // Last raw value per (connection, counter): a new connection restarts its counters at 0.
      let lastPc: RTCPeerConnection | null = null;
      let last: Record<string, number> = {};
      const add = (key: keyof typeof acc, raw: unknown) => {
        const v = Number(raw ?? 0);
        const prev = last[key] ?? 0;
        acc[key] += v >= prev ? v - prev : v;
        last[key] = v;
      };
      let n = 0;
      let busy = false;
      let stopped = false;
      const tick = async () => {
        if (busy || stopped) return;
        busy = true;
        try {
          const pcs = w.__pcs ?? [];
          const pc = pcs.filter((p) => p.connectionState !== 'closed').at(-1);
          if (!pc) return;
          if (pc !== lastPc) {
            lastPc = pc;
            last = {};
          }
          const full = n++ % fullEvery === 0;
          const video = pc.getReceivers().find((r) => r.track?.kind === 'video');
          const report = full || !video ? await pc.getStats() : await video.getStats();
          const s: Record<string, unknown> = { t: Date.now() };
          const byId = new Map<string, Record<string, unknown>>();
          report.forEach((x: Record<string, unknown>) => byId.set(x.id as string, x));
          for (const x of byId.values()) {
            if (x.type === 'inbound-rtp' && x.kind === 'video') {
              add('frames', x.framesDecoded);
              add('chromeFreezes', x.freezeCount);
              add('chromeFreezeS', x.totalFreezesDuration);
            }
            if (full && x.type === 'inbound-rtp' && x.kind === 'audio') {
              add('concealed', x.concealedSamples);
              add('audioSamples', x.totalSamplesReceived);
            }
            if (full && x.type === 'transport' && x.selectedCandidatePairId) {
              const pair = byId.get(x.selectedCandidatePairId as string);
              if (typeof pair?.currentRoundTripTime === 'number') s.rttMs = pair.currentRoundTripTime * 1000;
            }
          }
          Object.assign(s, { frames: acc.frames, chromeFreezes: acc.chromeFreezes, chromeFreezeS: acc.chromeFreezeS });
          if (full) Object.assign(s, { concealed: acc.concealed, audioSamples: acc.audioSamples, state: pc.connectionState });
          samples.push(s);
          if (samples.length > 36_000) samples.splice(0, 6000);
        } finally {
          busy = false;
        }
      };
      const timer = setInterval(() => void tick().catch(() => undefined), every);
      w.__quality = {
        samples,
        stop: () => {
          stopped = true;
          clearInterval(timer);
        },
      };
    },
    { every: SAMPLE_MS, fullEvery: FULL_EVERY },
  );
}

/** Samples taken at or after `since` (epoch ms). */
export async function qualitySamples(page: Page, since = 0): Promise<QualitySample[]> {
  return page.evaluate((from) => {
    const q = (window as unknown as { __quality?: { samples: Array<{ t: number }> } }).__quality;
    if (!q) throw new Error('quality sampler not started');
    return q.samples.filter((s) => s.t >= from) as never;
  }, since);
}

/** Stop the in-page sampler (no-op when not started). */
export async function stopQualitySampler(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as { __quality?: { stop: () => void } }).__quality?.stop()).catch(() => undefined);
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Figures of the window [from, to] (epoch ms) from `samples` (sorted by time; must include samples
 * before `from` for the window's first frame gap to be known, else the gap is measured from `from`).
 * @throws RangeError when the window is empty or has no samples.
 */
export function qualityOver(samples: QualitySample[], from: number, to: number): QualityWindow {
  if (!(to > from)) throw new RangeError(`empty window ${from}..${to}`);
  const inside = samples.filter((s) => s.t >= from && s.t <= to);
  if (!inside.length) throw new RangeError('no samples in the window');
  const before = samples.filter((s) => s.t < from).at(-1);
  const first = before ?? inside[0]!;
  const lastS = inside.at(-1)!;
  const seconds = (to - from) / 1000;
  // Times at which new frames had been decoded (sample resolution).
  const frameTimes: number[] = [];
  let prev = first.frames;
  let lastFrameAt = from;
  if (before) {
    // When did frames last grow before the window? Measure the first gap from there.
    const earlier = samples.filter((s) => s.t < from);
    for (let i = earlier.length - 1; i > 0; i--) {
      if (earlier[i]!.frames > earlier[i - 1]!.frames) {
        lastFrameAt = earlier[i]!.t;
        break;
      }
    }
  }
  for (const s of inside) {
    if (s.frames > prev) frameTimes.push(s.t);
    prev = s.frames;
  }
  const gaps: number[] = [];
  const freezeList: Array<{ atMs: number; ms: number }> = [];
  for (const t of [...frameTimes, to]) {
    const gap = t - lastFrameAt;
    gaps.push(gap);
    if (gap > FREEZE_GAP_MS) freezeList.push({ atMs: lastFrameAt - from, ms: gap });
    lastFrameAt = t;
  }
  const freezes = freezeList.map((f) => f.ms);
  const fullIn = inside.filter((s) => s.audioSamples !== undefined);
  const fullBefore = samples.filter((s) => s.t < from && s.audioSamples !== undefined).at(-1);
  const a0 = fullBefore ?? fullIn[0];
  const a1 = fullIn.at(-1);
  const audioTotal = a0 && a1 ? a1.audioSamples! - a0.audioSamples! : 0;
  return {
    seconds,
    fps: (lastS.frames - first.frames) / seconds,
    freezes: freezes.length,
    longestGapMs: Math.max(0, ...gaps),
    freezeMs: freezes.reduce((x, y) => x + y, 0),
    freezeList,
    chromeFreezes: lastS.chromeFreezes - first.chromeFreezes,
    chromeFreezeMs: (lastS.chromeFreezeS - first.chromeFreezeS) * 1000,
    concealment: audioTotal > 0 ? (a1!.concealed! - a0!.concealed!) / audioTotal : NaN,
    rttMs: median(inside.filter((s) => typeof s.rttMs === 'number').map((s) => s.rttMs!)),
    states: [...new Set(inside.filter((s) => s.state).map((s) => s.state!))],
  };
}

/**
 * ms from `from` until the first 1-s window [t, t + 1 s] whose decoded frame rate is at least
 * `targetFps`; null when none starts before `until` (epoch ms).
 */
export function recoveredAfter(samples: QualitySample[], from: number, targetFps: number, until: number): number | null {
  const s = samples.filter((x) => x.t >= from - 1000);
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    const start = s[i]!;
    if (start.t < from) continue;
    if (start.t > until) break;
    if (j < i) j = i;
    while (j < s.length - 1 && s[j]!.t - start.t < 1000) j++;
    const end = s[j]!;
    if (end.t - start.t < 900) break; // not a full second of samples left
    if ((end.frames - start.frames) / ((end.t - start.t) / 1000) >= targetFps) return start.t - from;
  }
  return null;
}

/** The page's network-quality indicator `#netQuality`, as a person would read it. */
export interface NetQuality {
  /** False while the page has no `#netQuality` element. */
  present: boolean;
  /** `data-state` (expected: good | fair | poor), or null when absent. */
  state: string | null;
  /** Its visible text (localized). */
  text: string;
}

/**
 * Read `#netQuality` (the per-person network-quality indicator: good/fair/poor). Never throws for
 * a missing element: `present` is then false.
 */
export async function netQualityState(page: Page): Promise<NetQuality> {
  return page.evaluate(() => {
    const el = document.getElementById('netQuality');
    if (!el) return { present: false, state: null, text: '' };
    return { present: true, state: el.dataset.state ?? null, text: (el.textContent ?? '').trim() };
  });
}
