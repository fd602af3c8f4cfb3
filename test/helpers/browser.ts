/**
 * Headless Chromium peers for end-to-end tests: Debian's `/usr/bin/chromium` driven by
 * playwright-core, one browser process per peer (closest to two real users), fake camera and
 * microphone, hermetic networking (see ../shared/notes/browser-testing.md).
 *
 * Every page gets an init script that records each `RTCPeerConnection` it creates in
 * `window.__pcs`, so tests read `getStats()` without the page exposing anything.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** True when Debian's Chromium is installed; browser suites skip loudly otherwise. */
export const haveChromium = existsSync(CHROMIUM);

// Playwright's own --disable-features list (a second --disable-features switch would replace it),
// plus WebRtcHideLocalIpsWithMdns so host candidates carry real addresses instead of mDNS names.
const PLAYWRIGHT_DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
];

export interface PeerOptions {
  /** Hosts/IPs the page may resolve or reach by name besides localhost/127.0.0.1. */
  hosts?: string[];
  /** `display-media-type=window|browser` for getDisplayMedia; default monitor. */
  displayMediaType?: 'monitor' | 'window' | 'browser';
  /** Run Chromium inside this network namespace (`ip netns exec NS chromium ...`). */
  netns?: string;
  /** More command-line switches. */
  args?: string[];
  /** Collect console messages of the page (default true). */
  captureConsole?: boolean;
  /** Resolve these names to these IPs (e.g. `{ 'call.acme.test': '127.0.0.1' }`); everything else stays hermetic. */
  hostMap?: Record<string, string>;
  /**
   * Check HTTPS certificates like a user's browser (no `ignoreHTTPSErrors`, no certificate flags);
   * default false (the self-signed test certificate is accepted).
   */
  verifyCertificates?: boolean;
  /** HOME of the browser process (Chromium on Linux reads user-trusted roots from HOME/.pki/nssdb). */
  home?: string;
  /**
   * The browser's language (`--lang`, `navigator.languages`, Accept-Language), default `en-US`:
   * tests that read page text get English unless they ask for another language.
   */
  locale?: string;
  /**
   * Answer camera/microphone permission prompts with "allow" (`--use-fake-ui-for-media-stream`),
   * default true. With false, only permissions granted with `context.grantPermissions` are given:
   * headless Chromium denies the rest, as for a person who blocks them.
   */
  fakeMediaUi?: boolean;
  /** Page viewport (default 800x600) and device emulation (a phone: `isMobile`, `hasTouch`). */
  viewport?: { width: number; height: number };
  isMobile?: boolean;
  hasTouch?: boolean;
}

/** One browser process with one page. */
export interface Peer {
  context: BrowserContext;
  page: Page;
  /** Console lines and page errors seen so far (for failure messages). */
  logs: string[];
  /** Close the browser and remove its profile directory. Safe to call twice. */
  close(): Promise<void>;
}

/** Command-line switches for a peer. */
export function chromiumArgs(opts: PeerOptions = {}): string[] {
  const excludes = ['localhost', '127.0.0.1', ...(opts.hosts ?? [])].map((h) => `EXCLUDE ${h}`).join(' , ');
  const maps = Object.entries(opts.hostMap ?? {}).map(([name, ip]) => `MAP ${name} ${ip} , `).join('');
  const fakeDevice =
    opts.displayMediaType && opts.displayMediaType !== 'monitor'
      ? `--use-fake-device-for-media-stream=display-media-type=${opts.displayMediaType}`
      : '--use-fake-device-for-media-stream';
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    ...(opts.fakeMediaUi === false ? [] : ['--use-fake-ui-for-media-stream']),
    fakeDevice,
    '--autoplay-policy=no-user-gesture-required',
    `--lang=${opts.locale ?? 'en-US'}`,
    `--host-resolver-rules=${maps}MAP * ~NOTFOUND , ${excludes}`,
    `--disable-features=${[...PLAYWRIGHT_DISABLED_FEATURES, 'WebRtcHideLocalIpsWithMdns'].join(',')}`,
    ...(opts.args ?? []),
  ];
}

const RECORD_PEER_CONNECTIONS = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || Native.__recorded) return;
  window.__pcs = [];
  const Recorded = function (...args) {
    const pc = new Native(...args);
    window.__pcs.push(pc);
    return pc;
  };
  Recorded.prototype = Native.prototype;
  Object.setPrototypeOf(Recorded, Native);
  Recorded.__recorded = true;
  window.RTCPeerConnection = Recorded;
})();`;

/**
 * Launch one Chromium process (fresh profile) and open a blank page.
 * @throws when Chromium cannot start.
 */
export async function launchPeer(opts: PeerOptions = {}): Promise<Peer> {
  const profile = mkdtempSync(path.join(tmpdir(), 'webrtc-call-chromium-'));
  let executablePath = CHROMIUM;
  if (opts.netns) {
    executablePath = path.join(profile, 'chromium-in-netns.sh');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${opts.netns} ${CHROMIUM} "$@"\n`);
    chmodSync(executablePath, 0o755);
  }
  const context = await chromium.launchPersistentContext(path.join(profile, 'profile'), {
    executablePath,
    headless: true,
    ignoreHTTPSErrors: !opts.verifyCertificates,
    locale: opts.locale ?? 'en-US',
    ...(opts.home ? { env: { ...process.env, HOME: opts.home } } : {}),
    args: chromiumArgs(opts),
    // An 800x600 screen: Chromium's fake getDisplayMedia source follows it and yields 800x450 frames.
    viewport: opts.viewport ?? { width: 800, height: 600 },
    ...(opts.isMobile ? { isMobile: true } : {}),
    ...(opts.hasTouch ? { hasTouch: true } : {}),
  });
  await context.addInitScript(RECORD_PEER_CONNECTIONS);
  const page = context.pages()[0] ?? (await context.newPage());
  const logs: string[] = [];
  if (opts.captureConsole !== false) {
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  }
  let closed = false;
  return {
    context,
    page,
    logs,
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What `mediaStats` reads from the page's newest peer connection (`window.__pcs`). */
export interface MediaStats {
  connectionState: string | null;
  videoFramesDecoded: number;
  videoBytesReceived: number;
  frameWidth: number;
  frameHeight: number;
  audioBytesReceived: number;
  /** inbound-rtp audio `audioLevel` (0..1), when reported. */
  audioLevel: number | null;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
  relayProtocol: string | null;
  /** `<video id=remoteVideo>` intrinsic size. */
  remoteVideoWidth: number;
  remoteVideoHeight: number;
}

/** Read inbound media counters and the selected candidate pair of the newest peer connection. */
export async function mediaStats(page: Page, remoteVideoSelector = '#remoteVideo'): Promise<MediaStats> {
  return page.evaluate(async (sel) => {
    const pcs = (window as unknown as { __pcs?: RTCPeerConnection[] }).__pcs ?? [];
    const pc = pcs.filter((p) => p.connectionState !== 'closed').at(-1) ?? pcs.at(-1);
    const video = document.querySelector(sel) as HTMLVideoElement | null;
    const r = {
      connectionState: pc ? pc.connectionState : null,
      videoFramesDecoded: 0,
      videoBytesReceived: 0,
      frameWidth: 0,
      frameHeight: 0,
      audioBytesReceived: 0,
      audioLevel: null as number | null,
      localCandidateType: null as string | null,
      remoteCandidateType: null as string | null,
      relayProtocol: null as string | null,
      remoteVideoWidth: video?.videoWidth ?? 0,
      remoteVideoHeight: video?.videoHeight ?? 0,
    };
    if (!pc) return r;
    const stats = await pc.getStats();
    const byId = new Map<string, any>();
    stats.forEach((s: any) => byId.set(s.id, s));
    for (const s of byId.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        r.videoFramesDecoded += s.framesDecoded ?? 0;
        r.videoBytesReceived += s.bytesReceived ?? 0;
        r.frameWidth = s.frameWidth ?? r.frameWidth;
        r.frameHeight = s.frameHeight ?? r.frameHeight;
      }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        r.audioBytesReceived += s.bytesReceived ?? 0;
        if (typeof s.audioLevel === 'number') r.audioLevel = s.audioLevel;
      }
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = byId.get(s.selectedCandidatePairId);
        const local = pair && byId.get(pair.localCandidateId);
        const remote = pair && byId.get(pair.remoteCandidateId);
        r.localCandidateType = local?.candidateType ?? null;
        r.remoteCandidateType = remote?.candidateType ?? null;
        r.relayProtocol = local?.relayProtocol ?? null;
      }
    }
    return r;
  }, remoteVideoSelector);
}

/**
 * Poll until `predicate(stats)` holds.
 * @throws Error with the last stats and the page's console when `timeoutMs` (default 20 000) passes.
 */
export async function waitForStats(
  peer: Peer,
  predicate: (s: MediaStats) => boolean,
  timeoutMs = 20_000,
  what = 'media condition',
): Promise<MediaStats> {
  const deadline = Date.now() + timeoutMs;
  let last: MediaStats | undefined;
  while (Date.now() < deadline) {
    last = await mediaStats(peer.page);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last stats ${JSON.stringify(last)}\npage log:\n${peer.logs.slice(-40).join('\n')}`);
}

/**
 * Prove media flows into `peer`: waits for decoded video, then checks over `windowMs` (default
 * 2 000 ms) that video frames decoded, video bytes and audio bytes all increase and that the remote
 * `<video>` has a non-zero size.
 * @returns the second sample.
 * @throws Error describing what did not increase.
 */
export async function expectMediaFlowing(peer: Peer, windowMs = 2000, timeoutMs = 20_000): Promise<MediaStats> {
  const first = await waitForStats(peer, (s) => s.videoFramesDecoded > 0 && s.remoteVideoWidth > 0, timeoutMs, 'first decoded remote frame');
  await new Promise((r) => setTimeout(r, windowMs));
  const second = await mediaStats(peer.page);
  const problems: string[] = [];
  if (!(second.videoFramesDecoded > first.videoFramesDecoded)) problems.push('video framesDecoded did not increase');
  if (!(second.videoBytesReceived > first.videoBytesReceived)) problems.push('video bytesReceived did not increase');
  if (!(second.audioBytesReceived > first.audioBytesReceived)) problems.push('audio bytesReceived did not increase');
  if (!(second.remoteVideoWidth > 0 && second.remoteVideoHeight > 0)) problems.push('remote <video> has zero size');
  if (problems.length) {
    throw new Error(`media not flowing: ${problems.join('; ')}\nfirst ${JSON.stringify(first)}\nsecond ${JSON.stringify(second)}\npage log:\n${peer.logs.slice(-40).join('\n')}`);
  }
  return second;
}
