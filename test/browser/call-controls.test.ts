/**
 * In-call controls on the real page with two headless Chromium peers: mute, camera off,
 * camera → screen → camera without renegotiation (also when sharing ends from the browser), chat
 * over the data channel, the stats panel, keyboard shortcuts. One server and one call for the file
 * (each test leaves the call as it found it). Run `npm run build` first.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { callDebug, connectedPair, inbound, inboundRates, pollUntil, waitForText } from './call-helpers.js';

/** Frames of the fake camera (640x480, or scaled down keeping 4:3), not of the 16:9 screen. */
const is4by3 = (s: { frameWidth: number; frameHeight: number }) => s.frameWidth > 0 && s.frameWidth * 3 === s.frameHeight * 4;

/** `WxH` with a 16:9 aspect ratio (the fake screen), within rounding. */
const is16by9 = (size: string) => {
  const [w, h] = size.split('x').map(Number);
  return !!w && !!h && Math.abs(w / h - 16 / 9) < 0.01;
};

type ControlsApi = {
  mediaState: { screen: boolean; audioMuted: boolean; videoOff: boolean };
  setScreenSharing(on: boolean): Promise<string | undefined>;
  setMuted(m: boolean): void;
  setVideoOff(o: boolean): void;
};

let server: RunningServer | undefined;
const peers: Peer[] = [];
let a: Peer;
let b: Peer;

describe.skipIf(!haveChromium)('call page: in-call controls', () => {
  beforeAll(async () => {
    server = await startServer();
    ({ a, b } = await connectedPair(peers, server.url));
    await expectMediaFlowing(b, 1000);
  });
  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('mute: the far side receives silence and shows "Muted"; unmute brings sound back', async () => {
    const before = await inboundRates(b.page);
    expect(before.energyPerS, 'the fake microphone beeps before muting').toBeGreaterThan(0);

    await a.page.click('#mute');
    expect(await a.page.getAttribute('#mute', 'aria-pressed')).toBe('true');
    await waitForText(b, /muted/i, 5000, '#remoteState');
    await new Promise((r) => setTimeout(r, 500)); // let the jitter buffer drain
    const muted = await inboundRates(b.page);
    expect(muted.energyPerS, `audio energy/s while muted (was ${before.energyPerS})`).toBeLessThan(before.energyPerS / 100);

    await a.page.keyboard.press('m'); // shortcut: unmute
    expect(await a.page.getAttribute('#mute', 'aria-pressed')).toBe('false');
    await pollUntil(() => b.page.isHidden('#remoteState'), (hidden) => hidden, 5000, '#remoteState hidden after unmute', b);
    await pollUntil(() => inboundRates(b.page, 1500), (r) => r.energyPerS > before.energyPerS / 10, 10_000, 'audio energy back after unmute', b);
  });

  it('camera off: the far side stops getting frames and shows "Camera off"; on again: frames come back', async () => {
    const before = await inboundRates(b.page);
    expect(before.fps).toBeGreaterThan(5);

    await a.page.click('#camera');
    expect(await a.page.getAttribute('#camera', 'aria-pressed')).toBe('true');
    await waitForText(b, /camera off/i, 5000, '#remoteState');
    await new Promise((r) => setTimeout(r, 500));
    const off = await inboundRates(b.page, 3000);
    expect(off.fps, `frames/s with the camera off (was ${before.fps})`).toBeLessThan(0.5);
    // The local preview track is disabled too, and nothing was renegotiated.
    expect(await a.page.evaluate(() => (window as unknown as { __call: { call: { videoTrack: MediaStreamTrack } } }).__call.call.videoTrack.enabled)).toBe(false);

    await a.page.click('#camera');
    await pollUntil(() => inboundRates(b.page, 1000), (r) => r.fps > 5, 10_000, 'frames back after camera on', b);
    await pollUntil(() => b.page.isHidden('#remoteState'), (hidden) => hidden, 5000, '#remoteState hidden after camera on', b);
  });

  beforeEach(async () => {
    // Every test starts from an unmuted camera call, even when the previous one failed half-way.
    for (const p of [a, b]) {
      await p.page.evaluate(async () => {
        const c = (window as unknown as { __call: { call: ControlsApi } }).__call.call;
        if (c.mediaState.screen) await c.setScreenSharing(false);
        if (c.mediaState.audioMuted) c.setMuted(false);
        if (c.mediaState.videoOff) c.setVideoOff(false);
      });
    }
  });

  it('camera → screen → camera switches with replaceTrack, without renegotiation', async () => {
    const debugA = await callDebug(a.page);
    const debugB = await callDebug(b.page);
    const cam = await pollUntil(() => inbound(b.page), (s) => s.frameWidth === 640 && s.frameHeight === 480, 15_000, 'camera 640x480', b);
    expect(cam.frameWidth).toBe(640);

    await a.page.click('#screen');
    await waitForText(b, /sharing screen/i, 5000, '#remoteState');
    // Chromium's fake screen follows the screen size: 800x450 with launchPeer's 800x600 screen.
    // The far side decodes frames of the screen track's size.
    const screenSize = () =>
      a.page.evaluate(() => {
        const s = (window as unknown as { __call: { call: { screenTrack: MediaStreamTrack } } }).__call.call.screenTrack.getSettings();
        return `${s.width}x${s.height}`;
      });
    const far = await pollUntil(
      async () => [`${(await inbound(b.page)).frameWidth}x${(await inbound(b.page)).frameHeight}`, await screenSize()],
      ([got, sent]) => got === sent && is16by9(got!),
      15_000,
      'screen frames (16:9, the size of the screen track) on the far side',
      b,
    );
    expect(far[0]).toBe('800x450');
    expect(await a.page.getAttribute('#screen', 'aria-pressed')).toBe('true');

    await a.page.click('#screen');
    // Camera frames again: 640x480, or 4:3 scaled down while the encoder ramps up on a busy machine.
    const again = await pollUntil(() => inbound(b.page), (s) => is4by3(s) && s.frameWidth >= 320, 15_000, 'camera (4:3) frames again', b);
    expect(again.frameWidth).toBeLessThanOrEqual(640);
    await pollUntil(() => b.page.isHidden('#remoteState'), (hidden) => hidden, 5000, '#remoteState hidden after sharing', b);

    // No offer/answer was exchanged and no new connection was made; the call stays up.
    const afterA = await callDebug(a.page);
    const afterB = await callDebug(b.page);
    expect(afterA.pcNumber).toBe(debugA.pcNumber);
    expect(afterB.pcNumber).toBe(debugB.pcNumber);
    expect(afterA.counters.offersSent + afterB.counters.offersSent).toBe(debugA.counters.offersSent + debugB.counters.offersSent);
    expect(afterA.counters.offersReceived + afterB.counters.offersReceived).toBe(debugA.counters.offersReceived + debugB.counters.offersReceived);
    expect(afterA.connectionState).toBe('connected');
    await expectMediaFlowing(b, 1000);
  });

  it('when screen sharing ends from the browser (track "ended"), the camera comes back', async () => {
    await a.page.keyboard.press('s'); // shortcut: share the screen
    await waitForText(b, /sharing screen/i, 5000, '#remoteState');
    await pollUntil(() => inbound(b.page), (s) => is16by9(`${s.frameWidth}x${s.frameHeight}`), 15_000, 'screen frames on the far side', b);
    const offersBefore = (await callDebug(a.page)).counters.offersSent;
    // What Chrome does when the person presses "Stop sharing": the track ends and fires "ended".
    await a.page.evaluate(() => {
      const t = (window as unknown as { __call: { call: { screenTrack: MediaStreamTrack } } }).__call.call.screenTrack;
      t.stop();
      t.dispatchEvent(new Event('ended'));
    });
    await pollUntil(() => inbound(b.page), (s) => is4by3(s) && s.frameWidth >= 320, 15_000, 'camera (4:3) frames after sharing ended', b);
    await pollUntil(() => a.page.getAttribute('#screen', 'aria-pressed'), (v) => v === 'false', 5000, '#screen not pressed', a);
    await waitForText(b, /^$/, 5000, '#remoteState');
    expect((await callDebug(a.page)).counters.offersSent).toBe(offersBefore);
    await pollUntil(() => inboundRates(b.page, 1000), (r) => r.fps > 5, 10_000, 'camera frames flowing', b);
  });

  it('another microphone and speaker can be chosen mid-call, without renegotiation', async () => {
    const before = await callDebug(a.page);
    const beforeB = await callDebug(b.page);
    await a.page.click('#devices summary');
    const mics = await a.page.$$eval('#micSelect option', (os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, label: o.textContent ?? '' })));
    expect(mics.length, 'Chromium fakes three microphones').toBeGreaterThan(1);
    const mic = mics.find((m) => /input 2/i.test(m.label)) ?? mics.at(-1)!;
    await a.page.selectOption('#micSelect', mic.value);
    const sentDevice = () =>
      a.page.evaluate(() => (window as unknown as { __call: { call: { peer: { audioSender: RTCRtpSender } } } }).__call.call.peer.audioSender.track?.getSettings().deviceId);
    await pollUntil(sentDevice, (id) => id === mic.value, 5000, `the sender to use ${mic.label}`, a);
    await pollUntil(() => inboundRates(b.page, 1500), (r) => r.energyPerS > 0, 10_000, 'sound from the new microphone', b);
    expect((await callDebug(a.page)).counters.offersSent).toBe(before.counters.offersSent);
    expect((await callDebug(b.page)).counters.offersSent).toBe(beforeB.counters.offersSent);

    if (await b.page.isVisible('#speakerLabel').catch(() => false)) {
      await b.page.click('#devices summary');
      const speakers = await b.page.$$eval('#speakerSelect option', (os) => os.map((o) => (o as HTMLOptionElement).value));
      const speaker = speakers.at(-1)!;
      await b.page.selectOption('#speakerSelect', speaker);
      await pollUntil(() => b.page.evaluate(() => (document.getElementById('remoteVideo') as HTMLVideoElement & { sinkId: string }).sinkId), (id) => id === speaker, 5000, 'speaker switched', b);
    }
  });

  it('chat messages arrive on the other side, with their time', async () => {
    await a.page.click('#chatToggle');
    await a.page.fill('#chatInput', 'hello from A');
    await a.page.click('#chatSend');
    await waitForText(b, /Them: hello from A/, 5000, '#chatLog');
    expect(await b.page.isVisible('#chat')).toBe(true); // opens by itself on a new message
    expect(await b.page.getAttribute('#chatLog li:last-child time', 'datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    await b.page.fill('#chatInput', 'hi A, B here');
    await b.page.press('#chatInput', 'Enter');
    await waitForText(a, /Them: hi A, B here/, 5000, '#chatLog');
    expect(await a.page.textContent('#chatLog')).toContain('You: hello from A');
  });

  it('the stats panel shows a host candidate pair, RTT, bitrates, codecs and resolutions', async () => {
    await a.page.keyboard.press('i'); // shortcut: stats
    expect(await a.page.isVisible('#statsPanel')).toBe(true);
    const text = await waitForText(a, /Bitrate in \/ out\s*\d+ kbit\/s/, 5000, '#statsTable');
    expect(text).toMatch(/Local candidate\s*host udp/);
    expect(text).toMatch(/Remote candidate\s*host udp/);
    expect(text).toMatch(/Round-trip time\s*\d+ ms/);
    expect(text).toMatch(/Video in.*VP8|VP9|H264|AV1/);
    expect(text).toMatch(/Video in.*\d+x\d+.*fps/);
    expect(text).toMatch(/Audio in.*opus/);
    // Refreshed every second.
    const first = await a.page.textContent('#statsTable');
    await pollUntil(() => a.page.textContent('#statsTable'), (t) => t !== first, 3000, 'stats refresh', a);
    await a.page.click('#stats');
    expect(await a.page.isHidden('#statsPanel')).toBe(true);
  });
});
