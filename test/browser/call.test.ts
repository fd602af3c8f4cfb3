/**
 * Issue 2: the call page, end to end. One real server (`node dist/server/main.js`, HTTPS, relay
 * child) for the file; each peer is its own headless Chromium with a fake camera/microphone.
 * Run `npm run build` first.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, waitForStats, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { joinCall, newRoom, openCallPage, waitForStatus } from './call-helpers.js';

/** Seat grace period of this file's server: short, so "the other person left" comes quickly. */
const GRACE_MS = 1500;

let server: RunningServer | undefined;
const peers: Peer[] = [];
const openPeer = (room: string) => openCallPage(peers, server!.url, room);

describe.skipIf(!haveChromium)('call page (issue 2)', () => {
  beforeAll(async () => {
    server = await startServer({ env: { SEAT_GRACE_MS: String(GRACE_MS) } });
  });
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('validates the room number, then two peers get media both ways', async () => {
    const room = newRoom();
    const a = await openPeer(room);
    expect(await a.page.inputValue('#room')).toBe(room);

    // Digits only: a bad room is refused with a clear message and nothing starts.
    await a.page.fill('#room', '12a4');
    await a.page.click('#join');
    expect(await a.page.isVisible('#roomError')).toBe(true);
    expect(await a.page.textContent('#roomError')).toMatch(/digits only/i);
    expect(await a.page.isDisabled('#leave')).toBe(true);
    await a.page.fill('#room', room);

    await joinCall(a);
    await waitForStatus(a, /waiting for the other person/i);
    const b = await openPeer(room);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    // The local preview shows our own camera (fake device: 640x480).
    expect(await a.page.evaluate(() => (document.getElementById('localVideo') as HTMLVideoElement).videoWidth)).toBeGreaterThan(0);
  });

  it('a third browser is told that the room is full', async () => {
    const room = newRoom();
    const a = await openPeer(room);
    await joinCall(a);
    await waitForStatus(a, /waiting/i);
    const b = await openPeer(room);
    await joinCall(b);
    await waitForStatus(b, /^connected$/i);
    const c = await openPeer(room);
    await joinCall(c);
    await waitForStatus(c, new RegExp(`room ${room} is full`, 'i'));
    // The third person is back at the start: Join enabled, no camera running.
    expect(await c.page.isEnabled('#join')).toBe(true);
    // ...and the call of the two others goes on.
    await expectMediaFlowing(a);
  });

  it('when one peer closes its page the other is told, and a new peer gets a working call', async () => {
    const room = newRoom();
    const a = await openPeer(room);
    await joinCall(a);
    await waitForStatus(a, /waiting/i);
    const b = await openPeer(room);
    await joinCall(b);
    await waitForStatus(a, /^connected$/i);
    await expectMediaFlowing(a, 1000);

    await b.close();
    await waitForStatus(a, /the other person left/i, GRACE_MS + 10_000);
    // Remote video cleared and the peer connection closed.
    expect(await a.page.evaluate(() => (document.getElementById('remoteVideo') as HTMLVideoElement).srcObject)).toBeNull();
    expect(await a.page.evaluate(() => (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.every((pc) => pc.connectionState === 'closed'))).toBe(true);

    const c = await openPeer(room);
    await joinCall(c);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(c, /^connected$/i)]);
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(c)]);
  });

  it('with "Share desktop" the far side decodes the screen track', async () => {
    const room = newRoom();
    const a = await openPeer(room);
    expect(await a.page.isVisible('#shareDesktop')).toBe(true);
    await joinCall(a, { shareDesktop: true });
    await waitForStatus(a, /waiting/i);
    // Chromium's fake display source follows the screen size (1024x768 here → 1024x576 frames,
    // 800x450 with an 800-pixel-wide screen): read it from the sender's track.
    const screen = await a.page.evaluate(() => {
      const v = document.getElementById('localVideo') as HTMLVideoElement;
      const t = (v.srcObject as MediaStream).getVideoTracks()[0]!;
      const s = t.getSettings();
      return { width: s.width ?? 0, height: s.height ?? 0, surface: (s as { displaySurface?: string }).displaySurface };
    });
    expect(screen.surface).toBe('monitor');
    expect(screen.width / screen.height).toBeCloseTo(16 / 9, 2);
    const b = await openPeer(room);
    await joinCall(b);
    const s = await waitForStats(
      b,
      (st) => st.frameWidth === screen.width && st.frameHeight === screen.height && st.videoFramesDecoded > 10,
      20_000,
      `screen frames ${screen.width}x${screen.height}`,
    );
    expect(s.remoteVideoWidth).toBe(screen.width);
    await expectMediaFlowing(b);
    // The sharer still receives the other camera (640x480 or scaled down, 4:3) and the other side
    // hears its microphone.
    const back = await waitForStats(a, (st) => st.frameWidth >= 320 && st.frameWidth * 3 === st.frameHeight * 4, 20_000, 'camera frames (4:3)');
    expect(back.audioBytesReceived).toBeGreaterThan(0);
    expect((await expectMediaFlowing(b)).audioBytesReceived).toBeGreaterThan(0);
  });
});
