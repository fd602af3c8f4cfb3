/**
 * What a person does in a call, done in Firefox with Chromium on the other side: mute and camera
 * off (shown to the other side and felt in its media), chat over the data channel, the stats
 * panel, screen sharing where headless Firefox can (it has no screen to capture), renegotiation
 * and glare with Firefox as the polite peer (its rollback), an ICE restart from Firefox, and
 * hanging up (the other side sees "left"). One server and one call for the file; each test leaves
 * the call as it found it. Run `npm run build` first.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { haveChromium } from '../helpers/browser.js';
import { haveFirefox } from '../helpers/firefox.js';
import { attributeOf, isVisible, launchPeerPage, settleAll, pollUntil, textOf, waitForText, type PeerPage } from '../helpers/peerPage.js';
import { expectReceiving, measure } from '../helpers/remoteMedia.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { newRoom } from './call-helpers.js';

let server: RunningServer | undefined;
let chromium: PeerPage; // joins first: impolite, makes the first offer
let firefox: PeerPage; // joins second: polite

type Win = {
  __call: {
    call: {
      mediaState: { screen: boolean; audioMuted: boolean; videoOff: boolean };
      setMuted(m: boolean): void;
      setVideoOff(o: boolean): void;
      polite: boolean;
      counters(): Record<string, number>;
      peer: { pc: RTCPeerConnection; number: number; restartIce(): void };
      signaling: { holdOutgoing(hold: boolean): void };
    };
  };
};

/** Negotiation state of a page's current connection. */
function negotiation(p: PeerPage) {
  return p.evaluate(() => {
    const c = (window as unknown as Win).__call.call;
    const pc = c.peer.pc;
    return {
      polite: c.polite,
      counters: c.counters(),
      pcNumber: c.peer.number,
      signalingState: pc.signalingState,
      connectionState: pc.connectionState,
      transceivers: pc.getTransceivers().length,
      allMids: pc.getTransceivers().every((t) => t.mid !== null),
    };
  }, null);
}

/** Add a receive-only audio transceiver: a new m-section, so `negotiationneeded` fires. */
function addTransceiver(p: PeerPage): Promise<void> {
  return p.evaluate(() => void (window as unknown as Win).__call.call.peer.pc.addTransceiver('audio', { direction: 'recvonly' }), null);
}

/** Both sides stable with `n` negotiated transceivers. */
async function negotiated(n: number): Promise<void> {
  await pollUntil(
    () => Promise.all([negotiation(chromium), negotiation(firefox)]),
    ([c, f]) => c.signalingState === 'stable' && f.signalingState === 'stable' && c.transceivers === n && f.transceivers === n && c.allMids && f.allMids,
    15_000,
    `both sides stable with ${n} negotiated transceivers`,
    firefox,
  );
}

/** Same connections as at the start, connected, media flowing both ways. */
async function sameCallWorking(pcs: { c: number; f: number }): Promise<void> {
  const [c, f] = await Promise.all([negotiation(chromium), negotiation(firefox)]);
  expect(c.pcNumber, 'no new peer connection in Chromium').toBe(pcs.c);
  expect(f.pcNumber, 'no new peer connection in Firefox').toBe(pcs.f);
  expect(c.connectionState).toBe('connected');
  expect(f.connectionState).toBe('connected');
  await Promise.all([expectReceiving(chromium, 1000), expectReceiving(firefox, 1000)]);
}

describe.skipIf(!haveChromium || !haveFirefox)('Firefox in a call with Chromium: in-call controls', () => {
  let pcs: { c: number; f: number };

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
    const [c, f] = await Promise.all([negotiation(chromium), negotiation(firefox)]);
    expect(c.polite).toBe(false);
    expect(f.polite).toBe(true);
    pcs = { c: c.pcNumber, f: f.pcNumber };
  });
  afterAll(async () => {
    await Promise.all([chromium, firefox].filter(Boolean).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });
  beforeEach(async () => {
    // Every test starts from an unmuted camera call, even when the previous one failed half-way.
    for (const p of [chromium, firefox].filter(Boolean)) {
      await p.evaluate(() => {
        const c = (window as unknown as Win).__call.call;
        if (c.mediaState.audioMuted) c.setMuted(false);
        if (c.mediaState.videoOff) c.setVideoOff(false);
      }, null);
    }
  });

  it('mute in Firefox: Chromium shows "Muted" and hears silence; unmute brings the sound back', async () => {
    const before = await measure(chromium);
    expect(before.energyPerS, "Firefox's fake microphone is heard before muting").toBeGreaterThan(0);
    await firefox.click('#mute');
    expect(await attributeOf(firefox, '#mute', 'aria-pressed')).toBe('true');
    await waitForText(chromium, /muted/i, 5000, '#remoteState');
    await new Promise((r) => setTimeout(r, 500)); // let the jitter buffer drain
    const muted = await measure(chromium);
    expect(muted.energyPerS, `audio energy/s while muted (was ${before.energyPerS})`).toBeLessThan(before.energyPerS / 100);

    await firefox.press('m'); // the shortcut: unmute
    expect(await attributeOf(firefox, '#mute', 'aria-pressed')).toBe('false');
    await pollUntil(() => isVisible(chromium, '#remoteState'), (v) => !v, 5000, '#remoteState hidden after unmute', chromium);
    await pollUntil(() => measure(chromium, 1500), (r) => r.energyPerS > before.energyPerS / 10, 10_000, 'sound back after unmute', chromium);
  });

  it('camera off in Firefox: Chromium shows "Camera off" and its frames all but stop; on again: frames come back', async () => {
    const before = await measure(chromium);
    expect(before.fps).toBeGreaterThan(5);
    await firefox.click('#camera');
    expect(await attributeOf(firefox, '#camera', 'aria-pressed')).toBe('true');
    await waitForText(chromium, /camera off/i, 5000, '#remoteState');
    await new Promise((r) => setTimeout(r, 500));
    const off = await measure(chromium, 3000);
    // Unlike Chromium, Firefox keeps a sender without a track alive with one black frame per
    // second (replaceTrack(null) included): about 1 frame/s and a small part of the bitrate.
    expect(off.fps, `frames/s with Firefox's camera off (was ${before.fps})`).toBeLessThan(2);
    expect(off.videoKbps, `video kbit/s with Firefox's camera off (was ${before.videoKbps})`).toBeLessThan(before.videoKbps / 4);

    await firefox.click('#camera');
    await pollUntil(() => measure(chromium, 1000), (r) => r.fps > 5, 10_000, 'frames back after camera on', chromium);
    await pollUntil(() => isVisible(chromium, '#remoteState'), (v) => !v, 5000, '#remoteState hidden after camera on', chromium);
  });

  it('Chromium mutes and turns its camera off: Firefox shows it and its frames stop', async () => {
    await chromium.click('#mute');
    await chromium.click('#camera');
    await waitForText(firefox, /muted.*camera off/i, 5000, '#remoteState');
    await new Promise((r) => setTimeout(r, 500));
    const off = await measure(firefox, 3000);
    expect(off.fps, 'frames/s in Firefox with Chromium\'s camera off').toBeLessThan(0.5);
    await chromium.click('#camera');
    await chromium.click('#mute');
    await pollUntil(() => isVisible(firefox, '#remoteState'), (v) => !v, 5000, '#remoteState hidden in Firefox', firefox);
    await pollUntil(() => measure(firefox, 1000), (r) => r.fps > 5 && r.paintedFps > 5, 10_000, 'frames decoded and painted in Firefox again', firefox);
  });

  it('chat over the data channel, both ways', async () => {
    await firefox.click('#chatToggle');
    await firefox.fill('#chatInput', 'hello from Firefox');
    await firefox.click('#chatSend');
    await waitForText(chromium, /Them: hello from Firefox/, 5000, '#chatLog');
    expect(await isVisible(chromium, '#chat')).toBe(true); // opens by itself on a new message
    await chromium.fill('#chatInput', 'hi Firefox, Chromium here');
    await chromium.press('Enter');
    await waitForText(firefox, /Them: hi Firefox, Chromium here/, 5000, '#chatLog');
    expect(await textOf(firefox, '#chatLog')).toContain('You: hello from Firefox');
    expect(await attributeOf(firefox, '#chatLog li:last-child time', 'datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("Firefox's stats panel shows the candidate pair, RTT, bitrates, codecs and resolutions", async () => {
    await firefox.press('i'); // the shortcut: stats
    expect(await isVisible(firefox, '#statsPanel')).toBe(true);
    const text = await waitForText(firefox, /Video in\s*\d+ kbit\/s · VP8\/90000 · \d+x\d+ · \d+ fps/, 8000, '#statsTable');
    expect(text).toMatch(/Local candidate\s*host udp \S+:\d+/);
    expect(text).toMatch(/Remote candidate\s*(host|prflx) udp \S+:\d+/);
    expect(text).toMatch(/Round-trip time\s*\d+ ms/);
    expect(text).toMatch(/Bitrate in \/ out\s*\d+ kbit\/s \/ \d+ kbit\/s/);
    expect(text).toMatch(/Video out\s*\d+ kbit\/s · VP8\/90000 · \d+x\d+ · \d+ fps/);
    expect(text).toMatch(/Audio in\s*\d+ kbit\/s · opus\/48000/);
    await firefox.click('#stats');
    expect(await isVisible(firefox, '#statsPanel')).toBe(false);
  });

  it('device pickers in Firefox: one fake camera and microphone, and no empty speaker picker', async () => {
    await firefox.click('#devices summary');
    const pickers = await firefox.evaluate(() => {
      const options = (id: string) => (document.getElementById(id) as HTMLSelectElement).options.length;
      return { mics: options('micSelect'), cameras: options('cameraSelect'), speakers: options('speakerSelect') };
    }, null);
    expect(pickers.mics).toBeGreaterThan(0);
    expect(pickers.cameras).toBeGreaterThan(0);
    // Firefox has setSinkId but lists no outputs here: the picker is hidden rather than empty.
    expect(await isVisible(firefox, '#speakerLabel')).toBe(pickers.speakers > 0);
    await firefox.click('#devices summary');
  });

  it('screen sharing in Firefox: where there is no screen to capture it says so and the camera goes on', async () => {
    const offersBefore = (await negotiation(firefox)).counters.offersSent;
    await firefox.click('#screen');
    // Headless Firefox has getDisplayMedia but nothing to capture (NotFoundError); with a screen
    // the far side would show "Sharing screen".
    const outcome = await pollUntil(
      () => Promise.all([textOf(firefox, '#warning'), textOf(chromium, '#remoteState')]),
      ([warning, remote]) => /screen/i.test(warning) || /sharing screen/i.test(remote),
      10_000,
      'a warning in Firefox or "Sharing screen" in Chromium',
      firefox,
    );
    if (/sharing screen/i.test(outcome[1])) {
      await firefox.click('#screen');
      await pollUntil(() => isVisible(chromium, '#remoteState'), (v) => !v, 5000, 'sharing stopped', chromium);
    } else {
      expect(outcome[0]).toMatch(/no screen found|cannot share|not allowed/i);
      expect(await attributeOf(firefox, '#screen', 'aria-pressed')).toBe('false');
      expect(await isVisible(chromium, '#remoteState')).toBe(false);
    }
    expect((await negotiation(firefox)).counters.offersSent).toBe(offersBefore);
    await pollUntil(() => measure(chromium, 1000), (r) => r.fps > 5, 10_000, "Firefox's camera frames still arrive", chromium);
  });

  it('renegotiation from Firefox (polite) and from Chromium, then glare: Firefox rolls back, Chromium ignores', async () => {
    let n = (await negotiation(firefox)).transceivers;
    await addTransceiver(firefox);
    await negotiated(++n);
    await addTransceiver(chromium);
    await negotiated(++n);

    const [beforeC, beforeF] = await Promise.all([negotiation(chromium), negotiation(firefox)]);
    const hold = (p: PeerPage, on: boolean) => p.evaluate((h) => (window as unknown as Win).__call.call.signaling.holdOutgoing(h), on);
    await Promise.all([hold(chromium, true), hold(firefox, true)]);
    await Promise.all([addTransceiver(chromium), addTransceiver(firefox)]);
    await pollUntil(
      () => Promise.all([negotiation(chromium), negotiation(firefox)]),
      ([c, f]) => c.signalingState === 'have-local-offer' && f.signalingState === 'have-local-offer',
      5000,
      'both sides in have-local-offer (the offers will cross)',
    );
    await Promise.all([hold(chromium, false), hold(firefox, false)]);
    n += 2;
    await negotiated(n);
    const [afterC, afterF] = await Promise.all([negotiation(chromium), negotiation(firefox)]);
    expect(afterC.counters.offersIgnored!, 'Chromium (impolite) ignored the colliding offer').toBe(beforeC.counters.offersIgnored! + 1);
    expect(afterF.counters.rollbacks!, 'Firefox (polite) rolled back its offer').toBe(beforeF.counters.rollbacks! + 1);
    expect(afterC.counters.errors! + afterF.counters.errors!).toBe(beforeC.counters.errors! + beforeF.counters.errors!);
    await sameCallWorking(pcs);
  });

  it('an ICE restart from Firefox keeps the call on the same connection', async () => {
    const before = await negotiation(firefox);
    await firefox.evaluate(() => (window as unknown as Win).__call.call.peer.restartIce(), null);
    await pollUntil(
      () => negotiation(firefox),
      (d) => d.counters.answersReceived === before.counters.answersReceived! + 1 && d.signalingState === 'stable',
      10_000,
      'the ICE restart answered',
      firefox,
    );
    expect((await negotiation(firefox)).counters.iceRestarts).toBe(before.counters.iceRestarts! + 1);
    await sameCallWorking(pcs);
  });

  it('Firefox reloads the page mid-call: it takes its seat back and the call resumes; Chromium never sees "left"', async () => {
    const statusLog = (p: PeerPage) => p.evaluate(() => (window as unknown as { __call: { page: { statusLog: string[] } } }).__call.page.statusLog.slice(), null);
    const seen = (await statusLog(chromium)).length;
    await firefox.reload();
    // The reloaded page re-joins by itself (same tab, same session token) and offers anew.
    await Promise.all([waitForText(firefox, /^connected$/i, 30_000), waitForText(chromium, /^connected$/i, 30_000)]);
    await Promise.all([expectReceiving(chromium), expectReceiving(firefox)]);
    expect((await statusLog(chromium)).slice(seen).join('\n')).not.toMatch(/left|full/i);
    expect((await statusLog(firefox)).join('\n')).not.toMatch(/left|full/i);
    const [c, f] = await Promise.all([negotiation(chromium), negotiation(firefox)]);
    expect(c.pcNumber, 'Chromium replaced its connection').not.toBe(pcs.c);
    expect(f.polite, 'the reloaded page is the polite one').toBe(true);
    expect(c.polite).toBe(false);
  });

  it('hang up in Firefox: Chromium is told that the other person left', async () => {
    await firefox.click('#hangup');
    await waitForText(firefox, /you hung up/i, 5000);
    await waitForText(chromium, /the other person left/i, 10_000);
    expect(await chromium.evaluate(() => (document.getElementById('remoteVideo') as HTMLVideoElement).srcObject, null)).toBeNull();
    expect(await firefox.evaluate(() => (window as unknown as Win).__call.call.peer === null, null)).toBe(true);
    expect(firefox.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  });
});
