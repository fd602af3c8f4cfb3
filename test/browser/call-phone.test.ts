/**
 * The call screen on a phone (390x844, isMobile, hasTouch) in a call: the remote video covers at
 * least 80 % of the screen, hang-up and mute are on screen without scrolling and at least 44 px,
 * the page is no wider than the screen; the same after turning the phone (844x390). "More" opens
 * the device pickers and the call's features (safety number, files, recording, quality) as one
 * sheet above the bar. Before Join
 * the page does not scroll sideways either. A PC-sized browser is the other person.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { joinCall, newRoom, pollUntil, waitForStatus } from './call-helpers.js';

let server: RunningServer | undefined;
let phone: Peer;
let pc: Peer;

/** What the test measures of the phone's screen. */
interface Screen {
  viewport: { width: number; height: number };
  /** Document width (scrollWidth) and whether the page scrolls sideways. */
  scrollWidth: number;
  /** Share of the viewport the remote video's box covers (0…1). */
  remoteCover: number;
  /** Each button: its box, and whether it is the element at its centre (not covered by anything). */
  buttons: Record<string, { top: number; bottom: number; left: number; right: number; width: number; height: number; onTop: boolean }>;
}

async function measure(page: Page): Promise<Screen> {
  return page.evaluate(() => {
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    const r = document.getElementById('remoteVideo')!.getBoundingClientRect();
    const w = Math.max(0, Math.min(r.right, vw) - Math.max(r.left, 0));
    const h = Math.max(0, Math.min(r.bottom, vh) - Math.max(r.top, 0));
    const buttons: Screen['buttons'] = {};
    for (const id of ['hangup', 'mute', 'camera', 'chatToggle']) {
      const el = document.getElementById(id)!;
      const b = el.getBoundingClientRect();
      const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
      buttons[id] = { top: b.top, bottom: b.bottom, left: b.left, right: b.right, width: b.width, height: b.height, onTop: !!hit && el.contains(hit) };
    }
    return { viewport: { width: vw, height: vh }, scrollWidth: document.documentElement.scrollWidth, remoteCover: (w * h) / (vw * vh), buttons };
  });
}

function expectPhoneScreen(s: Screen, what: string): void {
  const msg = `${what}: ${JSON.stringify(s)}`;
  expect(s.scrollWidth, msg).toBeLessThanOrEqual(s.viewport.width);
  expect(s.remoteCover, msg).toBeGreaterThanOrEqual(0.8);
  for (const id of ['hangup', 'mute']) {
    const b = s.buttons[id]!;
    expect(b.top, `${msg} ${id}`).toBeGreaterThanOrEqual(0);
    expect(b.left, `${msg} ${id}`).toBeGreaterThanOrEqual(0);
    expect(b.bottom, `${msg} ${id}`).toBeLessThanOrEqual(s.viewport.height);
    expect(b.right, `${msg} ${id}`).toBeLessThanOrEqual(s.viewport.width);
    expect(b.width, `${msg} ${id}`).toBeGreaterThanOrEqual(44);
    expect(b.height, `${msg} ${id}`).toBeGreaterThanOrEqual(44);
    expect(b.onTop, `${msg} ${id} is covered`).toBe(true);
  }
}

describe.skipIf(!haveChromium)('call screen on a phone', () => {
  beforeAll(async () => {
    [server, phone, pc] = await Promise.all([
      startServer(),
      launchPeer({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }),
      launchPeer(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([phone, pc].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('fills the screen with the other person, controls in reach, upright and turned', async () => {
    const room = newRoom();
    await phone.page.goto(`${server!.url}/?room=${room}`);
    // Before Join: the pre-join check and the form fit the width.
    await pollUntil(() => phone.page.evaluate(() => (document.getElementById('previewVideo') as HTMLVideoElement).videoWidth), (w) => w > 0, 10_000, 'preview', phone);
    const lobby = await phone.page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth }));
    expect(lobby.scrollWidth, JSON.stringify(lobby)).toBeLessThanOrEqual(lobby.width);

    await pc.page.goto(`${server!.url}/?room=${room}`);
    await joinCall(pc);
    await waitForStatus(pc, /waiting/i);
    await phone.page.tap('#join');
    await Promise.all([waitForStatus(phone, /^connected$/i), waitForStatus(pc, /^connected$/i)]);
    await expectMediaFlowing(phone, 1000);

    // The form and the header are out of the way; the status is shown over the video.
    expect(await phone.page.isHidden('#joinForm')).toBe(true);
    expect(await phone.page.isVisible('#status')).toBe(true);
    expectPhoneScreen(await measure(phone.page), 'upright');

    // Buttons work by touch, with a pressed state.
    await phone.page.tap('#mute');
    expect(await phone.page.getAttribute('#mute', 'aria-pressed')).toBe('true');
    await phone.page.tap('#mute');
    expect(await phone.page.getAttribute('#mute', 'aria-pressed')).toBe('false');
    // Each bar button has an accessible name although only its icon shows.
    const names = await phone.page.$$eval('#controls button:not([hidden])', (bs) => bs.map((b) => (b.textContent ?? '').trim()));
    expect(names.every((n) => n.length > 0), JSON.stringify(names)).toBe(true);

    // Turned sideways.
    await phone.page.setViewportSize({ width: 844, height: 390 });
    await pollUntil(() => measure(phone.page), (s) => s.viewport.width === 844, 5000, 'landscape viewport', phone);
    expectPhoneScreen(await measure(phone.page), 'landscape');
    // A panel opens above the bar and the call goes on.
    await phone.page.tap('#chatToggle');
    expect(await phone.page.isVisible('#chatInput')).toBe(true);
    expectPhoneScreen(await measure(phone.page), 'landscape, chat open');
    await expectMediaFlowing(phone, 1000);

    // Upright again. "More" opens one sheet above the bar: the device pickers and the call's
    // features, each reachable by scrolling the sheet; the bar stays in place.
    await phone.page.setViewportSize({ width: 390, height: 844 });
    await phone.page.tap('#chatToggle');
    expectPhoneScreen(await measure(phone.page), 'upright again');
    expect(await phone.page.isVisible('#safetyNumber')).toBe(false);
    await phone.page.tap('#devicesToggle');
    expect(await phone.page.getAttribute('#devicesToggle', 'aria-pressed')).toBe('true');
    for (const id of ['micSelect', 'safetyNumber', 'sendFile', 'record', 'quality']) {
      await phone.page.locator(`#${id}`).scrollIntoViewIfNeeded();
      const box = await phone.page.evaluate((i) => {
        const r = document.getElementById(i)!.getBoundingClientRect();
        const bar = document.getElementById('controls')!.getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, barTop: bar.top, visible: r.height > 0 };
      }, id);
      expect(box.visible && box.top >= 0 && box.bottom <= box.barTop, `${id}: ${JSON.stringify(box)}`).toBe(true);
    }
    expectPhoneScreen(await measure(phone.page), 'sheet open');
    await phone.page.tap('#devicesToggle');
    expect(await phone.page.isVisible('#safetyNumber')).toBe(false);
    await phone.page.tap('#hangup');
    await waitForStatus(phone, /hung up/i);
    expect(await phone.page.isVisible('#joinForm')).toBe(true);
  });
});
