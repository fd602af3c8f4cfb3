/**
 * The pre-join check: before Join the camera preview decodes frames, the microphone level meter
 * moves and the device pickers are filled; Join then sends the very tracks of the preview (same
 * track ids in the senders) without a second getUserMedia (counted by an init-script wrapper);
 * "join muted" and "join with camera off" start the call that way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { callDebug, joinCall, newRoom, pollUntil, waitForStatus, waitForText } from './call-helpers.js';

/** Counts getUserMedia calls of the page in `window.__gumCalls`. */
const COUNT_GET_USER_MEDIA = `(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const original = md.getUserMedia.bind(md);
  window.__gumCalls = 0;
  md.getUserMedia = (constraints) => {
    window.__gumCalls++;
    return original(constraints);
  };
})();`;

let server: RunningServer | undefined;
let a: Peer;
let b: Peer;

const gumCalls = (peer: Peer) => peer.page.evaluate(() => (window as unknown as { __gumCalls: number }).__gumCalls);

/** Frames the preview `<video>` presented so far (requestVideoFrameCallback), and its size. */
async function previewFrames(peer: Peer): Promise<{ frames: number; width: number }> {
  return peer.page.evaluate(() => {
    const v = document.getElementById('previewVideo') as HTMLVideoElement & { __frames?: number };
    if (v.__frames === undefined) {
      v.__frames = 0;
      const count = () => {
        v.__frames!++;
        v.requestVideoFrameCallback(count);
      };
      v.requestVideoFrameCallback(count);
    }
    return { frames: v.__frames, width: v.videoWidth };
  });
}

describe.skipIf(!haveChromium)('pre-join check', () => {
  beforeAll(async () => {
    [server, a, b] = await Promise.all([startServer(), launchPeer(), launchPeer()]);
    await a.context.addInitScript(COUNT_GET_USER_MEDIA);
  });
  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('shows the camera and the microphone level before Join; Join sends the same tracks, without a second getUserMedia', async () => {
    const room = newRoom();
    await a.page.goto(`${server!.url}/?room=${room}`);
    expect(await a.page.isVisible('#preview')).toBe(true);
    // The preview decodes frames (they keep coming) before anything is joined.
    await previewFrames(a);
    const first = await pollUntil(() => previewFrames(a), (f) => f.frames >= 3 && f.width > 0, 10_000, 'preview frames', a);
    await pollUntil(() => previewFrames(a), (f) => f.frames > first.frames + 5, 5000, 'more preview frames', a);
    // The fake microphone beeps: the meter shows a level at some point.
    await pollUntil(() => a.page.evaluate(() => (document.getElementById('micLevel') as HTMLMeterElement).value), (v) => v > 0.1, 10_000, 'microphone level', a);
    // The device pickers are there, with the open devices' names.
    expect(await a.page.isVisible('#micSelect')).toBe(true);
    expect((await a.page.$$eval('#cameraSelect option', (os) => os.map((o) => o.textContent))).length).toBeGreaterThan(0);
    expect(await a.page.evaluate(() => (window as unknown as { __call: { call: { inRoom: boolean } } }).__call.call.inRoom)).toBe(false);
    expect(await gumCalls(a)).toBe(1);
    const previewTracks = await a.page.evaluate(() => {
      const m = (window as unknown as { __call: { media: { audioTrack: MediaStreamTrack; cameraTrack: MediaStreamTrack } } }).__call.media;
      return [m.audioTrack.id, m.cameraTrack.id].sort();
    });

    await joinCall(a);
    await waitForStatus(a, /waiting/i);
    await b.page.goto(`${server!.url}/?room=${room}`);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    await expectMediaFlowing(b);
    // The senders carry the preview's tracks; no second getUserMedia; the check is put away.
    const sent = await a.page.evaluate(() => {
      const pc = (window as unknown as { __call: { call: { peer: { pc: RTCPeerConnection } } } }).__call.call.peer.pc;
      return pc
        .getSenders()
        .map((s) => s.track?.id)
        .filter((id): id is string => !!id)
        .sort();
    });
    expect(sent).toEqual(previewTracks);
    expect(await gumCalls(a)).toBe(1);
    expect(await a.page.isHidden('#preview')).toBe(true);
    expect((await callDebug(a.page)).pcsCreated).toBe(1);
  });

  it('"join muted" and "join with camera off" start the call that way', async () => {
    const room = newRoom();
    await a.page.goto(`${server!.url}/?room=${room}`);
    await pollUntil(() => previewFrames(a), (f) => f.width > 0, 10_000, 'preview', a);
    await a.page.check('#joinMuted');
    await a.page.check('#joinCameraOff');
    // The preview says so, and the microphone reads silence.
    await waitForText(a, /muted/i, 5000, '#previewState');
    await waitForText(a, /camera off/i, 5000, '#previewState');
    await pollUntil(() => a.page.evaluate(() => (document.getElementById('micLevel') as HTMLMeterElement).value), (v) => v === 0, 5000, 'meter at 0 while muted', a);

    await joinCall(a);
    await waitForStatus(a, /waiting/i);
    expect(await a.page.getAttribute('#mute', 'aria-pressed')).toBe('true');
    expect(await a.page.getAttribute('#camera', 'aria-pressed')).toBe('true');
    await b.page.goto(`${server!.url}/?room=${room}`);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    // The other person is told, and gets no video from us.
    await waitForText(b, /muted/i, 5000, '#remoteState');
    await waitForText(b, /camera off/i, 5000, '#remoteState');
    const videoIn = await b.page.evaluate(async () => {
      const pc = (window as unknown as { __call: { call: { peer: { pc: RTCPeerConnection } } } }).__call.call.peer.pc;
      await new Promise((r) => setTimeout(r, 1500));
      let frames = 0;
      (await pc.getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
      });
      return frames;
    });
    expect(videoIn).toBe(0);
    // Unmuting in the call works on the same track.
    await a.page.click('#mute');
    await waitForText(b, /^camera off$/i, 5000, '#remoteState');
    expect(await gumCalls(a)).toBe(1);
  });
});
