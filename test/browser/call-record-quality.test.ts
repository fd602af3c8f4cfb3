/**
 * Recording with consent and the quality block, on the real page with two headless Chromium peers
 * in one call:
 * - A records 5 s: the file plays in a `<video>` with decoded video and audio; B shows the
 *   recording notice while it runs and not after; a reload of A's page mid-recording clears it too.
 * - Data saver: A's outgoing video settles at or below 300 kbit/s (outbound-rtp over 5 s) at half
 *   the resolution; a shared screen is sent with contentHint 'detail', maintain-resolution and no
 *   scale-down; the noise-suppression switch changes the microphone's setting; the network-quality
 *   indicator reads "good" for both people on loopback.
 * Run `npm run build` first.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { connectedPair, pollUntil, waitForStatus } from './call-helpers.js';
import { netQualityBlock } from './extras-helpers.js';

let server: RunningServer | undefined;
const peers: Peer[] = [];

const noticeShown = (p: Peer) => p.page.evaluate(() => !document.getElementById('recordingNotice')!.hidden);

/** Outgoing video of the page's call over `ms`: kbit/s of payload, frame size, sender parameters. */
async function outgoingVideo(page: Page, ms: number) {
  return page.evaluate(async (windowMs) => {
    const w = window as unknown as { __call: { call: { peer: { pc: RTCPeerConnection; videoSender: RTCRtpSender } } } };
    const { pc, videoSender } = w.__call.call.peer;
    const read = async () => {
      let bytes = 0;
      let width = 0;
      let at = 0;
      (await pc.getStats()).forEach((s: Record<string, unknown>) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') {
          bytes += Number(s.bytesSent ?? 0);
          width = Number(s.frameWidth ?? width);
          at = Number(s.timestamp);
        }
      });
      return { bytes, width, at };
    };
    const a = await read();
    await new Promise((r) => setTimeout(r, windowMs));
    const b = await read();
    const p = videoSender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
    return {
      kbps: ((b.bytes - a.bytes) * 8) / (b.at - a.at),
      width: b.width,
      maxBitrate: p.encodings[0]?.maxBitrate ?? null,
      scale: p.encodings[0]?.scaleResolutionDownBy ?? null,
      degradationPreference: p.degradationPreference ?? null,
      contentHint: videoSender.track?.contentHint ?? null,
    };
  }, ms);
}

describe.skipIf(!haveChromium)('call page: recording with consent, quality', () => {
  let a: Peer;
  let b: Peer;
  beforeAll(async () => {
    server = await startServer();
    ({ a, b } = await connectedPair(peers, server.url));
    await expectMediaFlowing(a, 1000);
  });
  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('recording 5 s gives a playable WebM with video and audio; the other page shows the notice only meanwhile', async () => {
    expect(await noticeShown(b)).toBe(false);
    await pollUntil(() => a.page.isEnabled('#record'), (on) => on, 5000, '#record enabled', a);
    await a.page.click('#record');
    expect(await a.page.getAttribute('#record', 'aria-pressed')).toBe('true');
    await pollUntil(() => noticeShown(b), (on) => on, 5000, 'notice on B', b);
    expect(await b.page.textContent('#recordingNotice')).toMatch(/other person is recording/i);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await a.page.textContent('#recordingTimer')).toMatch(/0:0[4-6]/);
    expect(await noticeShown(b)).toBe(true);
    await a.page.click('#record');
    await pollUntil(() => noticeShown(b), (on) => !on, 5000, 'notice gone on B', b);
    await pollUntil(() => a.page.isVisible('#recordingDownload'), (v) => v, 5000, 'download link', a);
    expect(await a.page.getAttribute('#recordingDownload', 'download')).toMatch(/^call-.*\.webm$/);

    // Play the file: metadata with a picture size, then decoded video and audio bytes.
    const played = await a.page.evaluate(async () => {
      const link = document.getElementById('recordingDownload') as HTMLAnchorElement;
      const v = document.createElement('video') as HTMLVideoElement & { webkitVideoDecodedByteCount?: number; webkitAudioDecodedByteCount?: number };
      v.muted = true;
      v.src = link.href;
      await new Promise((res, rej) => {
        v.onloadedmetadata = res;
        v.onerror = () => rej(new Error(`cannot load: ${v.error?.message}`));
      });
      await v.play();
      await new Promise((r) => setTimeout(r, 2000));
      v.pause();
      return { bytes: Number(link.dataset.bytes), type: link.href.startsWith('blob:'), width: v.videoWidth, height: v.videoHeight, video: v.webkitVideoDecodedByteCount ?? -1, audio: v.webkitAudioDecodedByteCount ?? -1, time: v.currentTime };
    });
    console.log(`[record] ${JSON.stringify(played)}`);
    expect(played.bytes).toBeGreaterThan(10_000);
    expect(played.width).toBeGreaterThan(0);
    expect(played.height).toBeGreaterThan(0);
    expect(played.video).toBeGreaterThan(0);
    expect(played.audio).toBeGreaterThan(0);
    expect(played.time).toBeGreaterThan(0.5);
  });

  it('a reload of the recording page clears the notice on the other page', async () => {
    await a.page.click('#record');
    await pollUntil(() => noticeShown(b), (on) => on, 5000, 'notice on B', b);
    await a.page.reload();
    await pollUntil(() => noticeShown(b), (on) => !on, 10_000, 'notice gone after the reload', b);
    await Promise.all([waitForStatus(a, /^connected$/i, 30_000), waitForStatus(b, /^connected$/i, 30_000)]);
    await expectMediaFlowing(b, 1000);
  });

  it('data saver: outgoing video at most 300 kbit/s at half resolution; auto lifts the cap', async () => {
    const before = await outgoingVideo(a.page, 1000);
    await a.page.selectOption('#quality', 'saver');
    await new Promise((r) => setTimeout(r, 6000)); // settle
    const saver = await outgoingVideo(a.page, 5000);
    console.log(`[quality] before ${JSON.stringify(before)}; saver ${JSON.stringify(saver)}`);
    expect(saver.maxBitrate).toBe(300_000);
    expect(saver.scale).toBe(2);
    expect(saver.kbps).toBeGreaterThan(10);
    expect(saver.kbps).toBeLessThanOrEqual(300);
    expect(saver.width).toBeLessThanOrEqual(320);
    await a.page.selectOption('#quality', 'auto');
    await pollUntil(() => outgoingVideo(a.page, 200), (s) => s.maxBitrate === null && s.scale === 1, 5000, 'auto parameters', a);
  });

  it("screen sharing goes out with contentHint 'detail', maintain-resolution and full size, also in data saver", async () => {
    await a.page.selectOption('#quality', 'saver');
    await a.page.click('#screen');
    const s = await pollUntil(() => outgoingVideo(a.page, 200), (v) => v.contentHint === 'detail' && v.scale === 1, 10_000, 'screen parameters', a);
    console.log(`[quality] screen ${JSON.stringify(s)}`);
    expect(s!.maxBitrate).toBe(300_000);
    // Chromium reports the preference it applies; a browser that does not know it leaves it out.
    expect([null, 'maintain-resolution']).toContain(s!.degradationPreference);
    await a.page.click('#screen');
    const cam = await pollUntil(() => outgoingVideo(a.page, 200), (v) => v.contentHint !== 'detail' && v.scale === 2, 10_000, 'camera parameters again', a);
    expect([null, 'balanced']).toContain(cam!.degradationPreference);
    await a.page.selectOption('#quality', 'auto');
  });

  it('the noise-suppression switch changes the microphone; the network quality reads good for both people', async () => {
    const setting = () => a.page.evaluate(() => (window as unknown as { __call: { media: { audioTrack: MediaStreamTrack } } }).__call.media.audioTrack.getSettings().noiseSuppression ?? null);
    expect(await setting()).toBe(true);
    await a.page.uncheck('#noiseSuppression');
    await pollUntil(setting, (v) => v === false, 5000, 'noiseSuppression off', a);
    await a.page.check('#noiseSuppression');
    await pollUntil(setting, (v) => v === true, 5000, 'noiseSuppression on', a);
    // The reopened microphone is the one sent.
    await expectMediaFlowing(b, 1000);

    for (const p of [a, b]) {
      const q = await pollUntil(() => netQualityBlock(p.page), (s) => s.state === 'good' && s.me === 'good' && s.them === 'good', 20_000, 'good network quality', p);
      expect(q!.text).toMatch(/your connection: good/i);
    }
  });
});
