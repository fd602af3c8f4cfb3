/**
 * Room passcodes in the call page (headless Chromium): the person who opens the room types a
 * passcode; the invitation link and its QR code carry it in the fragment (`#pass=`); someone with a
 * wrong passcode is refused with the wrong-passcode sentence and the room stays exactly as it was
 * (admin API); the link, opened on a phone-sized page, fills the passcode and joins without typing;
 * a reload of the page that typed the passcode takes its seat back.
 */
import jsQRModule, { type QRCode } from 'jsqr';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { httpsGet, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { joinCall, newRoom, pollUntil, waitForStatus, waitForText } from './call-helpers.js';

type Decode = (data: Uint8ClampedArray, width: number, height: number) => QRCode | null;
const jsQR = ((jsQRModule as unknown as { default?: Decode }).default ?? jsQRModule) as unknown as Decode;

const ADMIN_TOKEN = 'admin-token-passcode-0123456789';
const PASSCODE = 'open sesame 7';

let server: RunningServer | undefined;
let a: Peer;
let b: Peer;

async function readQr(page: Page): Promise<string | null> {
  const img = await page.evaluate(() => {
    const c = document.getElementById('qr') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
    return { width: d.width, height: d.height, data: Array.from(d.data) };
  });
  return jsQR(Uint8ClampedArray.from(img.data), img.width, img.height)?.data ?? null;
}

/** The room's members as the admin API shows them. */
async function members(room: string): Promise<Array<{ socketId: string; polite: boolean; connected: boolean; joinedAt: number }> | undefined> {
  const r = await httpsGet(`${server!.url}/api/admin/rooms`, { authorization: `Bearer ${ADMIN_TOKEN}` });
  const body = JSON.parse(r.body) as { rooms: Array<{ room: string; members: Array<{ socketId: string; polite: boolean; connected: boolean; joinedAt: number }> }> };
  return body.rooms.find((x) => x.room === room)?.members;
}

describe.skipIf(!haveChromium)('room passcode in the call page', () => {
  beforeAll(async () => {
    [server, a, b] = await Promise.all([
      startServer({ env: { ADMIN_TOKEN } }),
      launchPeer(),
      launchPeer({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('a wrong passcode is refused and changes nothing; the #pass= link joins without typing', async () => {
    const room = newRoom();
    await a.page.goto(`${server!.url}/?room=${room}`);
    await a.page.fill('#passcode', PASSCODE);
    const link = `${server!.url}/?room=${room}#pass=${encodeURIComponent(PASSCODE)}`;
    await pollUntil(() => a.page.inputValue('#shareLink'), (v) => v === link, 5000, 'invitation link with the passcode', a);
    await joinCall(a);
    await waitForStatus(a, /waiting for the other person/i);
    expect(await a.page.isDisabled('#passcode')).toBe(true);
    await pollUntil(() => readQr(a.page), (t) => t === link, 5000, 'QR code of the link with the passcode', a);
    const before = await members(room);
    expect(before).toHaveLength(1);

    // Someone with the room number but a wrong passcode (phone layout).
    await b.page.goto(`${server!.url}/?room=${room}`);
    expect(await b.page.inputValue('#passcode')).toBe('');
    expect(await b.page.isVisible('#passcode')).toBe(true);
    await b.page.fill('#passcode', 'open sesame 8');
    await joinCall(b);
    await waitForStatus(b, /wrong passcode/i);
    await pollUntil(() => b.page.getAttribute('#app', 'data-phase'), (p) => p === 'lobby', 5000, 'back in the lobby', b);
    expect(await b.page.isEnabled('#passcode')).toBe(true);
    expect(await members(room)).toEqual(before);
    await waitForStatus(a, /waiting for the other person/i, 1000);

    // The invitation link: the passcode is filled in from the fragment; Join without typing.
    await b.page.goto('about:blank');
    await b.page.goto(link);
    expect(await b.page.inputValue('#room')).toBe(room);
    expect(await b.page.inputValue('#passcode')).toBe(PASSCODE);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    await expectMediaFlowing(b, 1000);
    expect(await members(room)).toHaveLength(2);
    // The passcode stays in the fragment only: the server saw ?room=N and nothing else.
    expect(new URL(b.page.url()).hash).toBe(`#pass=${encodeURIComponent(PASSCODE)}`);
  });

  it('the refusal reads in Chinese too', async () => {
    // A new tab: its own session token, so it cannot take B's seat back.
    const page = await b.context.newPage();
    const c: Peer = { ...b, page };
    try {
      await page.goto(`${server!.url}/?room=${await a.page.inputValue('#room')}`);
      await page.selectOption('#lang', 'zh-CN');
      await page.fill('#passcode', 'nope');
      await joinCall(c);
      await waitForText(c, /密码错误/);
      expect(await members(await a.page.inputValue('#room'))).toHaveLength(2);
    } finally {
      await page.close();
    }
  });

  it('a reload of the page that typed the passcode takes the seat back, and the call resumes', async () => {
    const room = await a.page.inputValue('#room');
    expect(new URL(a.page.url()).hash).toBe(''); // a typed passcode is not put into the address bar
    await a.page.reload();
    await Promise.all([waitForStatus(a, /^connected$/i, 20_000), expectMediaFlowing(a, 1000)]);
    expect(await a.page.inputValue('#passcode')).toBe(PASSCODE);
    expect(await members(room)).toHaveLength(2);
  });
});
