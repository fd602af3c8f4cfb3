/**
 * The call page speaks the browser's language: a whole call in a Chinese browser (Chromium
 * `--lang=zh-CN`, context locale zh-CN) shows Chinese status text at each step (waiting,
 * connected, the other person left, room full) and an English browser shows English; the #lang
 * switch changes the language without a reload (also of a message already shown) and the choice
 * survives a reload. Three browsers for the file, one server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { joinCall, newRoom, waitForStatus } from './call-helpers.js';

let server: RunningServer | undefined;
let zh: Peer;
let en: Peer;
let third: Peer;

async function open(peer: Peer, room: string): Promise<void> {
  await peer.page.goto(`${server!.url}/?room=${room}`);
}

/** `<html lang>`, the page title and the Join button's text. */
async function pageLanguage(peer: Peer): Promise<{ lang: string; title: string; join: string; switcher: string }> {
  return peer.page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    join: document.getElementById('join')!.textContent ?? '',
    switcher: (document.getElementById('lang') as HTMLSelectElement).value,
  }));
}

describe.skipIf(!haveChromium)('call page language', () => {
  beforeAll(async () => {
    [server, zh, en, third] = await Promise.all([
      startServer({ env: { SEAT_GRACE_MS: '1000' } }),
      launchPeer({ locale: 'zh-CN' }),
      launchPeer({ locale: 'en-US' }),
      launchPeer({ locale: 'zh-CN' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([zh, en, third].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('a Chinese browser gets Chinese at every step, an English browser English; the switch works and is remembered', async () => {
    const first = newRoom();
    await Promise.all([open(zh, first), open(en, first), open(third, first)]);
    expect(await pageLanguage(zh)).toEqual({ lang: 'zh-CN', title: 'WebRTC 视频通话', join: '加入', switcher: 'zh-CN' });
    expect(await pageLanguage(en)).toEqual({ lang: 'en', title: 'WebRTC call', join: 'Join', switcher: 'en' });
    expect(await zh.page.textContent('#status')).toBe('输入房间号，然后点击“加入”。');

    // Waiting, then connected.
    await joinCall(zh);
    await waitForStatus(zh, /^正在等待对方加入…$/);
    await joinCall(en);
    await Promise.all([waitForStatus(zh, /^已接通$/), waitForStatus(en, /^Connected$/)]);

    // A third person finds the room full, in Chinese; switching to English redraws that very
    // message, with <html lang> and the page title, without a reload.
    await joinCall(third);
    await waitForStatus(third, new RegExp(`^房间 ${first} 已满。请换一个房间号。$`));
    await third.page.selectOption('#lang', 'en');
    await waitForStatus(third, new RegExp(`^Room ${first} is full\\. Try another room number\\.$`));
    expect(await pageLanguage(third)).toEqual({ lang: 'en', title: 'WebRTC call', join: 'Join', switcher: 'en' });
    expect(await third.page.getAttribute('#mute', 'title')).toBe('Mute or unmute the microphone (M)');
    // The choice survives a reload (localStorage), although the browser asks for Chinese.
    await third.page.reload();
    expect(await pageLanguage(third)).toEqual({ lang: 'en', title: 'WebRTC call', join: 'Join', switcher: 'en' });

    // The other person leaves: told in Chinese.
    await en.page.click('#hangup');
    await waitForStatus(en, /^You hung up\.$/);
    await waitForStatus(zh, /^对方已离开。正在等待有人加入…$/);

    // The same steps in English: waiting, connected, room full, the other person left.
    const second = newRoom();
    await open(en, second);
    await joinCall(en);
    await waitForStatus(en, /^Waiting for the other person…$/);
    await zh.page.click('#hangup');
    await waitForStatus(zh, /^你已挂断。$/);
    await open(zh, second);
    await joinCall(zh);
    await Promise.all([waitForStatus(zh, /^已接通$/), waitForStatus(en, /^Connected$/)]);
    await open(third, second);
    await joinCall(third);
    await waitForStatus(third, new RegExp(`^Room ${second} is full\\. Try another room number\\.$`));
    await zh.page.click('#hangup');
    await waitForStatus(en, /^The other person left\. Waiting for someone to join…$/);

    // Back to Chinese with the switch: the in-call buttons and the status follow.
    await en.page.selectOption('#lang', 'zh-CN');
    await waitForStatus(en, /^对方已离开。正在等待有人加入…$/);
    expect(await en.page.textContent('#hangup')).toContain('挂断');
    expect(await en.page.getAttribute('#mute', 'title')).toBe('麦克风静音或取消静音（M）');
    expect(await en.page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
  });
});
