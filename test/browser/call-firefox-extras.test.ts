/**
 * The call page's features between Chromium and Firefox ESR (each its own process, fake devices,
 * the real server): the same safety number on both pages (Chromium from the DTLS certificate,
 * Firefox, which has no `getRemoteCertificates()`, from the fingerprint of the applied remote
 * description); files both ways arrive intact; Firefox records and Chromium shows the notice; the
 * recording plays in Firefox; data saver caps Firefox's video; the network quality reads good on
 * both. Run `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium } from '../helpers/browser.js';
import { haveFirefox } from '../helpers/firefox.js';
import { launchPeerPage, pollUntil, settleAll, waitForText, type PeerPage } from '../helpers/peerPage.js';
import { expectReceiving } from '../helpers/remoteMedia.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { newRoom } from './call-helpers.js';

let server: RunningServer | undefined;
let chromium: PeerPage;
let firefox: PeerPage;

const safety = (p: PeerPage) =>
  p.evaluate(() => {
    const n = document.getElementById('safetyNumber')!;
    return { state: n.dataset.state ?? null, text: (n.textContent ?? '').trim(), source: n.dataset.source ?? null };
  }, null);

/** Choose a file of `size` random bytes in `#fileInput`; returns its SHA-256 (hex). */
const chooseFile = (p: PeerPage, size: number, name: string) =>
  p.evaluate(
    async ({ size, name }) => {
      const parts: Uint8Array[] = [];
      for (let off = 0; off < size; off += 65536) parts.push(crypto.getRandomValues(new Uint8Array(Math.min(65536, size - off))));
      const file = new File(parts as BlobPart[], name, { type: 'application/octet-stream' });
      const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
      const input = document.getElementById('fileInput') as HTMLInputElement;
      const dt = new DataTransfer();
      dt.items.add(file);
      input.files = dt.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
      return Array.from(new Uint8Array(digest), (x) => x.toString(16).padStart(2, '0')).join('');
    },
    { size, name },
  );

/** The newest row of `direction` in `#transfers`. */
const row = (p: PeerPage, direction: 'send' | 'receive') =>
  p.evaluate((dir) => {
    const li = document.querySelector<HTMLElement>(`#transfers li[data-direction="${dir}"]`);
    return li ? { id: li.dataset.id!, state: li.dataset.state!, sha256: li.dataset.sha256 ?? null } : null;
  }, direction);

const netState = (p: PeerPage) => p.evaluate(() => document.getElementById('netQuality')!.dataset.state ?? null, null);

async function sendFile(from: PeerPage, to: PeerPage, size: number, name: string): Promise<void> {
  const before = (await row(to, 'receive'))?.id ?? null;
  const sha = await chooseFile(from, size, name);
  await pollUntil(() => row(to, 'receive'), (r) => !!r && r.id !== before && r.state === 'offered', 10_000, `offer on ${to.engine}`, to);
  await to.click('#transfers li[data-state="offered"] button[data-action="accept"]');
  const [rs, rr] = await Promise.all([
    pollUntil(() => row(from, 'send'), (r) => r?.state === 'done' || r?.state === 'failed', 60_000, `sent from ${from.engine}`, from),
    pollUntil(() => row(to, 'receive'), (r) => r?.state === 'done' || r?.state === 'failed', 60_000, `received on ${to.engine}`, to),
  ]);
  if (rs?.state !== 'done' || rr?.state !== 'done') {
    const line = (p: PeerPage) => p.evaluate(() => Array.from(document.querySelectorAll('#transfers .transfer-line'), (e) => e.textContent).join(' | '), null);
    console.log(`[firefox] transfer ${from.engine} → ${to.engine} failed: sender "${await line(from)}", receiver "${await line(to)}"\n${from.engine} log:\n${from.logs.slice(-15).join('\n')}\n${to.engine} log:\n${to.logs.slice(-15).join('\n')}`);
  }
  expect(rs?.state).toBe('done');
  expect(rr?.state).toBe('done');
  expect(rr?.sha256).toBe(sha);
  expect(rs?.sha256).toBe(sha);
}

describe.skipIf(!haveChromium || !haveFirefox)('Chromium ↔ Firefox: safety number, files, recording, quality', () => {
  beforeAll(async () => {
    await settleAll([
      startServer({ timeoutMs: 60_000 }).then((s) => (server = s)),
      launchPeerPage('chromium').then((p) => (chromium = p)),
      launchPeerPage('firefox').then((p) => (firefox = p)),
    ]);
    const url = `${server!.url}/?room=${newRoom()}`;
    await Promise.all([chromium.goto(url), firefox.goto(url)]);
    await chromium.click('#join');
    await waitForText(chromium, /waiting for the other person/i);
    await firefox.click('#join');
    await Promise.all([waitForText(chromium, /^connected$/i, 30_000), waitForText(firefox, /^connected$/i, 30_000)]);
    await Promise.all([expectReceiving(chromium), expectReceiving(firefox)]);
  });
  afterAll(async () => {
    await Promise.all([chromium, firefox].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('both pages show the same safety number', async () => {
    const [c, f] = await Promise.all([chromium, firefox].map((p) => pollUntil(() => safety(p), (s) => s.state === 'ready', 10_000, 'safety number', p)));
    console.log(`[firefox] Chromium ${JSON.stringify(c)}, Firefox ${JSON.stringify(f)}`);
    expect(c!.text).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
    expect(f!.text).toBe(c!.text);
    expect(c!.source).toBe('certificate');
    expect(['sdp', 'certificate']).toContain(f!.source);
  });

  it('files go both ways intact', async () => {
    await sendFile(firefox, chromium, 3_000_000, 'from-firefox.bin');
    await sendFile(chromium, firefox, 3_000_000, 'from-chromium.bin');
  });

  it('Firefox records: Chromium shows the notice meanwhile; the file plays in Firefox', async () => {
    const notice = () => chromium.evaluate(() => !document.getElementById('recordingNotice')!.hidden, null);
    await firefox.click('#record');
    await pollUntil(notice, (on) => on, 5000, 'notice on Chromium', chromium);
    await new Promise((r) => setTimeout(r, 3000));
    await firefox.click('#record');
    await pollUntil(notice, (on) => !on, 5000, 'notice gone on Chromium', chromium);
    await pollUntil(() => firefox.evaluate(() => !document.getElementById('recordingDownload')!.hidden, null), (v) => v, 5000, 'download link', firefox).catch((err) => {
      console.log(`[firefox] log:\n${firefox.logs.slice(-20).join('\n')}`);
      throw err;
    });
    const played = await firefox.evaluate(async () => {
      const link = document.getElementById('recordingDownload') as HTMLAnchorElement;
      const v = document.createElement('video') as HTMLVideoElement & { mozHasAudio?: boolean };
      v.muted = true;
      v.src = link.href;
      await new Promise((res, rej) => {
        v.onloadedmetadata = res;
        v.onerror = () => rej(new Error(`cannot load: ${v.error?.message}`));
      });
      await v.play();
      await new Promise((r) => setTimeout(r, 1500));
      return { bytes: Number(link.dataset.bytes), width: v.videoWidth, time: v.currentTime, hasAudio: v.mozHasAudio ?? null };
    }, null);
    console.log(`[firefox] recording ${JSON.stringify(played)}; ${firefox.logs.filter((l) => l.includes("recording started")).join(" ")}`);
    expect(played.bytes).toBeGreaterThan(10_000);
    expect(played.width).toBeGreaterThan(0);
    expect(played.time).toBeGreaterThan(0.5);
    expect(played.hasAudio).not.toBe(false);
  });

  it("data saver sets Firefox's sender limits; network quality reads good on both", async () => {
    await firefox.evaluate(() => {
      const s = document.getElementById('quality') as HTMLSelectElement;
      s.value = 'saver';
      s.dispatchEvent(new Event('change', { bubbles: true }));
    }, null);
    const params = await pollUntil(
      () =>
        firefox.evaluate(() => {
          const w = window as unknown as { __call: { call: { peer: { videoSender: RTCRtpSender } } } };
          const e = w.__call.call.peer.videoSender.getParameters().encodings[0];
          return { maxBitrate: e?.maxBitrate ?? null, scale: e?.scaleResolutionDownBy ?? null };
        }, null),
      (p) => p.maxBitrate === 300_000,
      5000,
      'Firefox sender parameters',
      firefox,
    );
    expect(params!.scale).toBe(2);
    for (const p of [chromium, firefox]) await pollUntil(() => netState(p), (s) => s === 'good', 20_000, 'good network quality', p);
  });
});
