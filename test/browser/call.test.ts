/**
 * The call page, end to end. One real server (`node dist/server/main.js`, HTTPS, relay
 * child) and three browsers for the file; each peer is its own headless Chromium process with a
 * fake camera/microphone.
 * Run `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, launchPeer, waitForStats, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { joinCall, newRoom, pollUntil, waitForStatus, waitForText } from './call-helpers.js';

/** Seat grace period of this file's server: short, so "the other person left" comes quickly. */
const GRACE_MS = 1500;

let server: RunningServer | undefined;
// Three browsers for the whole file (launching is the slow part); each test opens its own room.
let a: Peer;
let b: Peer;
let c: Peer;

/** Point `peer`'s page at a new room (a fresh page load; any previous call is dropped). */
async function open(peer: Peer, room: string): Promise<Peer> {
  await peer.page.goto(`${server!.url}/?room=${room}`);
  return peer;
}

async function pair(room: string, first: Peer, second: Peer, opts: { shareDesktop?: boolean } = {}): Promise<void> {
  await open(first, room);
  await joinCall(first, opts);
  await waitForStatus(first, /waiting for the other person/i);
  await open(second, room);
  await joinCall(second);
  await Promise.all([waitForStatus(first, /^connected$/i), waitForStatus(second, /^connected$/i)]);
}

describe.skipIf(!haveChromium)('call page', () => {
  beforeAll(async () => {
    [server, a, b, c] = await Promise.all([startServer({ env: { SEAT_GRACE_MS: String(GRACE_MS) } }), launchPeer(), launchPeer(), launchPeer()]);
  });
  afterAll(async () => {
    await Promise.all([a, b, c].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('validates the room number, then two peers get media both ways', async () => {
    const room = newRoom();
    await open(a, room);
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
    await open(b, room);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    // The local preview shows our own camera.
    expect(await a.page.evaluate(() => (document.getElementById('localVideo') as HTMLVideoElement).videoWidth)).toBeGreaterThan(0);
  });

  it('a third browser is told that the room is full', async () => {
    const room = newRoom();
    await pair(room, a, b);
    await open(c, room);
    await joinCall(c);
    await waitForStatus(c, new RegExp(`room ${room} is full`, 'i'));
    // The third person is back at the start: Join enabled, no call.
    expect(await c.page.isEnabled('#join')).toBe(true);
    expect(await c.page.isDisabled('#leave')).toBe(true);
    // ...and the call of the two others goes on.
    await expectMediaFlowing(a, 1000);
    expect(await a.page.textContent('#status')).toBe('Connected');
  });

  it('when one peer closes its page the other is told, and a new peer gets a working call', async () => {
    const room = newRoom();
    await pair(room, a, b);
    await expectMediaFlowing(a, 1000);

    await b.close(); // the whole browser goes away
    await waitForStatus(a, /the other person left/i, GRACE_MS + 10_000);
    // Remote video cleared and the peer connection closed; a new one (not connected to anybody)
    // waits with its offer for the next person.
    expect(await a.page.evaluate(() => (document.getElementById('remoteVideo') as HTMLVideoElement).srcObject)).toBeNull();
    const pcs = await a.page.evaluate(() =>
      (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.map((pc) => ({ state: pc.connectionState, remote: pc.remoteDescription !== null })),
    );
    expect(pcs.slice(0, -1).every((p) => p.state === 'closed'), JSON.stringify(pcs)).toBe(true);
    expect(pcs.at(-1)!.state === 'closed' || (pcs.at(-1)!.state === 'new' && !pcs.at(-1)!.remote), JSON.stringify(pcs)).toBe(true);

    await open(c, room);
    await joinCall(c);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(c, /^connected$/i)]);
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(c)]);
  });

  it('a refused camera/microphone is explained before Join, and the page still joins to receive', async () => {
    const room = newRoom();
    // What the browser answers when the person blocks the camera and microphone, from before the
    // page's own scripts run (the pre-join check asks at once); on a page of its own, so the
    // browser's other pages keep their devices.
    const page = await c.context.newPage();
    const blocked: Peer = { ...c, page };
    try {
      await page.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      });
      await page.goto(`${server!.url}/?room=${room}`);
      await waitForText(blocked, /permission to use the camera and microphone was denied/i, 10_000, '#mediaProblem');
      expect(await page.textContent('#mediaProblem')).toMatch(/you can still join/i);
      await joinCall(blocked);
      await waitForStatus(blocked, /waiting for the other person/i);
      expect(await page.textContent('#warning')).toMatch(/without camera and microphone/i);
      await page.click('#leave');
    } finally {
      await page.close();
    }
  });

  it('with "Share desktop" the far side decodes the screen track', async () => {
    const room = newRoom();
    await open(a, room);
    expect(await a.page.isVisible('#shareDesktop')).toBe(true);
    await joinCall(a, { shareDesktop: true });
    await waitForStatus(a, /waiting/i);
    // Chromium's fake display source follows the screen size: 800x450 frames with the 800x600
    // screen launchPeer gives each browser.
    // (The track reports its real size once the capturer has produced frames.)
    const screen = await pollUntil(
      () =>
        a.page.evaluate(() => {
          const v = document.getElementById('localVideo') as HTMLVideoElement;
          const t = (v.srcObject as MediaStream).getVideoTracks()[0]!;
          const s = t.getSettings();
          return { width: s.width ?? 0, height: s.height ?? 0, surface: (s as { displaySurface?: string }).displaySurface };
        }),
      (st) => st.height > 0 && Math.abs(st.width / st.height - 16 / 9) < 0.01,
      5000,
      'a 16:9 screen track',
      a,
    );
    expect(screen.surface).toBe('monitor');
    expect(`${screen.width}x${screen.height}`).toBe('800x450');
    await open(c, room);
    await joinCall(c);
    const s = await waitForStats(
      c,
      (st) => st.frameWidth === screen.width && st.frameHeight === screen.height && st.videoFramesDecoded > 10,
      20_000,
      `screen frames ${screen.width}x${screen.height}`,
    );
    expect(s.remoteVideoWidth).toBe(screen.width);
    // The sharer's microphone is still heard (expectMediaFlowing checks audio bytes too) ...
    await expectMediaFlowing(c);
    // ... and the sharer receives the other camera (640x480 or scaled down, 4:3).
    await waitForStats(a, (st) => st.frameWidth >= 320 && st.frameWidth * 3 === st.frameHeight * 4, 20_000, 'camera frames (4:3)');
  });
});
