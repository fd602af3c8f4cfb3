/**
 * Sharing a call: "New room" picks a random room number, "Copy link" puts `https://HOST/?room=N`
 * on the clipboard (read back with clipboard permissions granted), the QR code encodes that link
 * (decoded here with jsqr from the canvas pixels), and the link opened in a second browser joins
 * the same call. While the first person waits, the invitation stays on screen. Then, in the call:
 * full screen for the remote video, and picture-in-picture where headless Chromium offers it.
 */
import jsQRModule, { type QRCode } from 'jsqr';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { joinCall, pollUntil, waitForStatus, waitForText } from './call-helpers.js';

// jsqr is CommonJS with an ES-style default in its types: at run time the module is the function.
type Decode = (data: Uint8ClampedArray, width: number, height: number) => QRCode | null;
const jsQR = ((jsQRModule as unknown as { default?: Decode }).default ?? jsQRModule) as unknown as Decode;

let server: RunningServer | undefined;
let a: Peer;
let b: Peer;

/** Decode the QR code drawn on #qr. */
async function readQr(page: Page): Promise<string | null> {
  const img = await page.evaluate(() => {
    const c = document.getElementById('qr') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
    return { width: d.width, height: d.height, data: Array.from(d.data) };
  });
  return jsQR(Uint8ClampedArray.from(img.data), img.width, img.height)?.data ?? null;
}

describe.skipIf(!haveChromium)('share a call', () => {
  beforeAll(async () => {
    [server, a, b] = await Promise.all([startServer(), launchPeer(), launchPeer()]);
    await a.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server!.url });
  });
  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('New room, Copy link and the QR code give a link that joins the same call', async () => {
    await a.page.goto(`${server!.url}/`);
    expect(await a.page.isHidden('#share')).toBe(true);
    await a.page.click('#newRoom');
    const room = await a.page.inputValue('#room');
    expect(room).toMatch(/^[1-9]\d{8}$/);
    // A second click picks another number; the address bar follows the room.
    await a.page.click('#newRoom');
    const room2 = await a.page.inputValue('#room');
    expect(room2).toMatch(/^[1-9]\d{8}$/);
    expect(room2).not.toBe(room);
    expect(new URL(a.page.url()).searchParams.get('room')).toBe(room2);

    const link = `${server!.url}/?room=${room2}`;
    await a.page.click('#copyLink');
    await waitForText(a, /link copied/i, 5000, '#shareStatus');
    expect(await a.page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    expect(await a.page.inputValue('#shareLink')).toBe(link);
    await pollUntil(() => readQr(a.page), (t) => t === link, 5000, 'QR code of the link', a);

    // Join: while waiting, the invitation stays (the same link); it can be closed.
    await joinCall(a);
    await waitForStatus(a, /waiting for the other person/i);
    expect(await a.page.isVisible('#share')).toBe(true);
    expect(await readQr(a.page)).toBe(link);

    // The link, opened by the other person, joins the same call.
    await b.page.goto(link);
    expect(await b.page.inputValue('#room')).toBe(room2);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    await expectMediaFlowing(b, 1000);
    // Connected: the invitation is put away.
    await pollUntil(() => a.page.isHidden('#share'), (h) => h, 5000, 'invitation hidden', a);
  });

  it('full screen and picture-in-picture for the remote video, where the browser has them', async () => {
    // Still in the call of the previous test.
    await pollUntil(() => a.page.isVisible('#fullscreen'), (v) => v, 5000, '#fullscreen shown', a);
    await a.page.click('#fullscreen');
    await pollUntil(() => a.page.evaluate(() => document.fullscreenElement?.id ?? null), (id) => id === 'remoteVideo', 5000, 'remote video full screen', a);
    expect(await a.page.getAttribute('#fullscreen', 'aria-pressed')).toBe('true');
    await a.page.evaluate(() => document.exitFullscreen());
    await pollUntil(() => a.page.getAttribute('#fullscreen', 'aria-pressed'), (p) => p === 'false', 5000, 'left full screen', a);

    const pipSupported = await a.page.evaluate(() => document.pictureInPictureEnabled === true);
    expect(await a.page.isVisible('#pip')).toBe(pipSupported);
    if (pipSupported) {
      await a.page.click('#pip');
      const state = await pollUntil(
        () => a.page.evaluate(() => ({ el: document.pictureInPictureElement?.id ?? null, warning: document.getElementById('warning')!.textContent })),
        (s) => s.el === 'remoteVideo' || /picture in picture/i.test(s.warning ?? ''),
        5000,
        'picture-in-picture (or the reason it did not start)',
        a,
      );
      if (state.el === 'remoteVideo') {
        expect(await a.page.getAttribute('#pip', 'aria-pressed')).toBe('true');
        await a.page.click('#pip');
        await pollUntil(() => a.page.getAttribute('#pip', 'aria-pressed'), (p) => p === 'false', 5000, 'left picture-in-picture', a);
      }
    }
  });
});
