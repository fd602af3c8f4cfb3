/**
 * Nothing a Chinese reader sees is left in English: the call page in a zh-CN browser before
 * Join, waiting, in a call with the stats panel and chat open, after hanging up and after an
 * error; and the trickle-ICE page before and after gathering and a relay test. Every visible text
 * node, title, aria-label, placeholder and selected option is checked for Latin words other than
 * technical names, codes and units (visible-text.ts); the test fails with each word and where.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { TEST_ICE_TOKEN, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { joinCall, newRoom, pollUntil, waitForStatus, waitForText } from './call-helpers.js';
import { untranslatedWords, visibleTexts } from './visible-text.js';

let server: RunningServer | undefined;
let a: Peer;
let b: Peer;

/**
 * Not ours to translate: names the browser gives (device labels), text typed by people, and the
 * trickle-ICE tables of raw candidates and of the browser's own candidate errors.
 */
const NOT_OURS = [
  '#micSelect', '#cameraSelect', '#speakerSelect', '#shareLink', '#room', '#chatLog li span',
  '#url', '#username', '#password', '#servers', '#relayUrl', '#candidates tbody', '#errors tbody',
];

/**
 * Fail on any Latin word a Chinese reader sees (see visible-text.ts). `foreign`: phrases the
 * browser wrote (e.g. an icecandidateerror's errorText quoted in a verdict), removed first.
 */
async function expectAllChinese(peer: Peer, state: string, foreign: string[] = []): Promise<void> {
  const texts = (await visibleTexts(peer.page, NOT_OURS)).map((t) => ({ ...t, text: foreign.reduce((x, f) => x.split(f).join(' '), t.text) }));
  expect(texts.length, `${state}: some text is visible`).toBeGreaterThan(5);
  const bad = untranslatedWords(texts);
  expect(bad.map((t) => `${t.where}: ${t.text}`), `${state}: untranslated text`).toEqual([]);
}

describe.skipIf(!haveChromium)('no English left on the zh-CN pages', () => {
  beforeAll(async () => {
    [server, a, b] = await Promise.all([
      startServer(),
      launchPeer({ locale: 'zh-CN' }),
      launchPeer({ locale: 'zh-CN' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('the call page, in every state', async () => {
    const room = newRoom();
    await a.page.goto(`${server!.url}/?room=${room}`);
    // Before Join: the pre-join check with its preview and device pickers, and the invitation.
    await pollUntil(() => a.page.evaluate(() => (document.getElementById('previewVideo') as HTMLVideoElement).videoWidth), (w) => w > 0, 10_000, 'preview', a);
    await pollUntil(() => a.page.isVisible('#qr'), (v) => v, 5000, 'QR code', a);
    await a.page.click('#copyLink');
    await waitForText(a, /./, 5000, '#shareStatus');
    await expectAllChinese(a, 'before Join');

    // A room number that is not one: the form says why.
    await a.page.fill('#room', '12ab');
    await a.page.click('#join');
    await waitForText(a, /./, 5000, '#roomError');
    await expectAllChinese(a, 'invalid room');
    await a.page.fill('#room', room);

    // Waiting for the other person (with the invitation shown over the call).
    await joinCall(a);
    await waitForStatus(a, /等待/);
    await expectAllChinese(a, 'waiting');

    // In a call with the stats panel and the chat open, a chat message each way, muted.
    await b.page.goto(`${server!.url}/?room=${room}`);
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^已接通$/), waitForStatus(b, /^已接通$/)]);
    await a.page.click('#stats');
    await a.page.click('#chatToggle');
    await a.page.click('#devices summary');
    await pollUntil(() => a.page.textContent('#statsTable'), (t) => /kbit\/s/.test(t ?? '') && /\d+x\d+/.test(t ?? ''), 10_000, 'stats', a);
    await a.page.fill('#chatInput', '你好 123');
    await a.page.press('#chatInput', 'Enter');
    // B's chat opened by itself with A's message.
    await waitForText(b, /你好/, 5000, '#chatLog');
    await b.page.fill('#chatInput', '收到');
    await b.page.press('#chatInput', 'Enter');
    await waitForText(a, /收到/, 5000, '#chatLog');
    await b.page.click('#mute');
    await b.page.click('#camera');
    await waitForText(a, /已静音/, 5000, '#remoteState');
    await expectAllChinese(a, 'in a call, stats and chat open');
    await expectAllChinese(b, 'in a call, muted and camera off');

    // After hanging up; and the other side after the other person left.
    await b.page.click('#hangup');
    await waitForStatus(b, /挂断/);
    await waitForStatus(a, /对方已离开/);
    await expectAllChinese(b, 'after hanging up');
    await expectAllChinese(a, 'the other person left');

    // An error: the room is full.
    await b.page.goto(`${server!.url}/?room=${room}`);
    await joinCall(b);
    await waitForStatus(b, /^已接通$/);
    // A third person: another tab of B's browser (its own session), cheaper than a browser.
    const page = await b.context.newPage();
    const c: Peer = { ...b, page };
    try {
      await page.goto(`${server!.url}/?room=${room}`);
      await joinCall(c);
      await waitForStatus(c, /已满/);
      await expectAllChinese(c, 'room full');
    } finally {
      await page.close();
    }
  });

  it('the trickle-ICE page, before and after gathering and a relay test', async () => {
    const page = a.page;
    await page.goto(`${server!.url}/trickle-ice.html#token=${TEST_ICE_TOKEN}`);
    await pollUntil(() => page.getAttribute('#defaultsStatus', 'data-state'), (s) => s === 'loaded', 10_000, 'defaults', a);
    await expectAllChinese(a, 'trickle-ICE page');
    await page.click('#gather');
    await pollUntil(() => page.getAttribute('#gatherStatus', 'data-state'), (s) => s === 'done', 60_000, 'gathering done', a);
    await page.click('#testRelay');
    await pollUntil(() => page.getAttribute('#relayResult', 'data-status'), (s) => s === 'ok' || s === 'fail', 30_000, 'relay test', a);
    // A form problem too.
    await page.fill('#url', 'turn://example.org');
    await waitForText(a, /./, 5000, '#formError');
    const browserErrors = await page.$$eval('#errors tbody tr', (trs) => trs.map((tr) => (tr as HTMLTableRowElement).cells[4]?.textContent ?? '').filter(Boolean));
    await expectAllChinese(a, 'trickle-ICE page after gathering', browserErrors);
  });
});
