/**
 * Chromium ↔ Firefox on the real call page: a headless Chromium (playwright-core) and a headless
 * Firefox ESR (puppeteer-core over WebDriver BiDi), each its own process with fake devices, call
 * each other through the real server, directly and relay-only (`?relay=1`) through the embedded
 * relay. Media must be decoded both ways for at least {@link CALL_S} s. Run `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium } from '../helpers/browser.js';
import { haveFirefox } from '../helpers/firefox.js';
import { launchPeerPage, settleAll, waitForText, type PeerPage } from '../helpers/peerPage.js';
import { expectReceiving, remoteMedia, type RemoteMedia } from '../helpers/remoteMedia.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { newRoom } from './call-helpers.js';

/** How long media must keep being decoded both ways, s. */
const CALL_S = 10;
/** One sample every this many ms: each window must show progress. */
const WINDOW_MS = 2500;

let server: RunningServer | undefined;
let chromium: PeerPage;
let firefox: PeerPage;

/** Both pages open `room` (with `query`), `first` joins and waits, then `second` joins; both connected. */
async function call(first: PeerPage, second: PeerPage, room: string, query = ''): Promise<void> {
  const url = `${server!.url}/?room=${room}${query ? `&${query}` : ''}`;
  await Promise.all([first.goto(url), second.goto(url)]);
  await first.click('#join');
  await waitForText(first, /waiting for the other person/i);
  await second.click('#join');
  await Promise.all([waitForText(first, /^connected$/i, 30_000), waitForText(second, /^connected$/i, 30_000)]);
}

/**
 * Media decoded both ways for {@link CALL_S} s: in every {@link WINDOW_MS} window each side decodes
 * new frames (inbound-rtp `framesDecoded`), its `<video>` paints frames and plays on, and audio
 * bytes arrive.
 * @returns the last sample of each side.
 */
async function mediaBothWays(): Promise<{ c: RemoteMedia; f: RemoteMedia }> {
  await Promise.all([expectReceiving(chromium), expectReceiving(firefox)]);
  let last = await Promise.all([remoteMedia(chromium), remoteMedia(firefox)]);
  const started = Date.now();
  while (Date.now() - started < CALL_S * 1000) {
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const now = await Promise.all([remoteMedia(chromium), remoteMedia(firefox)]);
    const t = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    for (const [i, who] of [
      [0, 'Chromium'],
      [1, 'Firefox'],
    ] as const) {
      const [a, b] = [last[i], now[i]];
      expect(b.framesDecoded, `${who} decodes frames at ${t}`).toBeGreaterThan(a.framesDecoded);
      expect(b.paintedFrames, `${who} paints frames at ${t}`).toBeGreaterThan(a.paintedFrames);
      expect(b.currentTime, `${who}'s <video> plays on at ${t}`).toBeGreaterThan(a.currentTime);
      expect(b.audioBytes, `${who} receives audio at ${t}`).toBeGreaterThan(a.audioBytes);
      expect(b.connectionState).toBe('connected');
    }
    last = now;
  }
  return { c: last[0], f: last[1] };
}

/** The size of the video track a page sends (its camera's `getSettings()`). */
function sentSize(p: PeerPage): Promise<{ width: number; height: number }> {
  return p.evaluate(() => {
    const s = (window as unknown as { __call: { call: { videoTrack: MediaStreamTrack } } }).__call.call.videoTrack.getSettings();
    return { width: s.width ?? 0, height: s.height ?? 0 };
  }, null);
}

/**
 * Each side decodes the other's camera: both fake cameras are opened at 640x480 (the page asks for
 * that size; Firefox's fake source gives it, Chromium's is 640x480 anyway). The receiver decodes
 * that size, or a 4:3 scale-down while the sender's encoder adapts (Firefox's starts at 320x240
 * and ramps up; both scale down under CPU load). The `<video>` shows the decoded size.
 */
async function expectCameraSizes(c: RemoteMedia, f: RemoteMedia): Promise<void> {
  const [fromFirefox, fromChromium] = await Promise.all([sentSize(firefox), sentSize(chromium)]);
  console.log(`Firefox sends ${fromFirefox.width}x${fromFirefox.height}, Chromium decodes ${c.frameWidth}x${c.frameHeight}; Chromium sends ${fromChromium.width}x${fromChromium.height}, Firefox decodes ${f.frameWidth}x${f.frameHeight}`);
  expect(fromFirefox).toEqual({ width: 640, height: 480 });
  expect(fromChromium).toEqual({ width: 640, height: 480 });
  for (const [who, got] of [
    ['Chromium', c],
    ['Firefox', f],
  ] as const) {
    expect(got.frameWidth * 3, `${who} decodes 4:3 frames (${got.frameWidth}x${got.frameHeight})`).toBe(got.frameHeight * 4);
    expect(got.frameWidth, `${who} decodes at most the sent width`).toBeLessThanOrEqual(640);
    expect(got.frameWidth, `${who} decodes at least a quarter of the sent width`).toBeGreaterThanOrEqual(160);
    expect(got.videoWidth * 3, `${who}'s <video> is 4:3 (${got.videoWidth}x${got.videoHeight})`).toBe(got.videoHeight * 4);
  }
}

describe.skipIf(!haveChromium || !haveFirefox)('Chromium ↔ Firefox call', () => {
  beforeAll(async () => {
    // No loopback exception in the relay: relay-only calls pass by its own-address rule, as in production.
    await settleAll([
      startServer({ env: { TURN_ALLOWED_PEERS: '' }, timeoutMs: 60_000 }).then((s) => (server = s)),
      launchPeerPage('chromium').then((p) => (chromium = p)),
      launchPeerPage('firefox').then((p) => (firefox = p)),
    ]);
  });
  afterAll(async () => {
    await Promise.all([chromium, firefox].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it(`direct: Chromium offers, Firefox answers; media both ways for ${CALL_S} s at the fake cameras' sizes`, async () => {
    await call(chromium, firefox, newRoom());
    const { c, f } = await mediaBothWays();
    await expectCameraSizes(c, f);
    expect(c.localCandidateType).toBe('host');
    expect(f.localCandidateType).toBe('host');
    // The page runs in Firefox without errors (its CSP blocks eval: nothing may need it).
    expect(firefox.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  });

  it(`relay only (?relay=1): Firefox offers, Chromium answers; relay↔relay, media both ways for ${CALL_S} s`, async () => {
    await call(firefox, chromium, newRoom(), 'relay=1');
    const { c, f } = await mediaBothWays();
    await expectCameraSizes(c, f);
    for (const s of [c, f]) {
      expect(s.localCandidateType).toBe('relay');
      // The other side's relayed candidate; learned from its connectivity check before its trickled
      // candidate arrived, it is peer-reflexive (RFC 8445 §7.3.1.3), as Firefox sometimes reports.
      expect(['relay', 'prflx']).toContain(s.remoteCandidateType);
    }
  });
});
