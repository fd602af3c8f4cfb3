/**
 * The safety number on the real page with two headless Chromium peers and the real server: both
 * pages show the same number, taken from the DTLS certificate (Chromium has
 * `getRemoteCertificates()`); a "verified" mark set on one page shows on the other; a rebuilt
 * connection changes the number, both pages say so and the marks are cleared. The man-in-the-middle
 * case is call-safety-mitm.test.ts. Run `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { connectedPair, pollUntil, waitForStatus } from './call-helpers.js';
import { safetyState } from './extras-helpers.js';

let server: RunningServer | undefined;
const peers: Peer[] = [];

describe.skipIf(!haveChromium)('call page: safety number', () => {
  let a: Peer;
  let b: Peer;
  beforeAll(async () => {
    server = await startServer();
    ({ a, b } = await connectedPair(peers, server.url));
  });
  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('both pages show the same number, from the certificate of the DTLS handshake', async () => {
    const [sa, sb] = await Promise.all([a, b].map((p) => pollUntil(() => safetyState(p.page), (s) => s.state === 'ready', 10_000, 'safety number', p)));
    expect(sa!.text).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
    expect(sb!.text).toBe(sa!.text);
    expect(sa!.source).toBe('certificate');
    expect(sb!.source).toBe('certificate');
    // The number really is the two fingerprints in use: A's local = B's remote and vice versa.
    const fps = await Promise.all(
      [a, b].map((p) =>
        p.page.evaluate(async () => {
          const w = window as unknown as { __call: { call: { peer: { pc: RTCPeerConnection } } } };
          const pc = w.__call.call.peer.pc;
          const der = (pc.sctp!.transport as RTCDtlsTransport & { getRemoteCertificates(): ArrayBuffer[] }).getRemoteCertificates()[0]!;
          const hex = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', der)), (x) => x.toString(16).padStart(2, '0').toUpperCase()).join(':');
          const local = /^a=fingerprint:sha-256 (\S+)/m.exec(pc.localDescription!.sdp)![1];
          return { local, remote: hex };
        }),
      ),
    );
    expect(fps[0]!.local).toBe(fps[1]!.remote);
    expect(fps[1]!.local).toBe(fps[0]!.remote);
  });

  it('a "verified" mark shows on the other page; a rebuild keeps number and marks, a new certificate changes the number and clears them', async () => {
    const before = (await safetyState(a.page)).text;
    await a.page.click('#verify');
    expect(await a.page.getAttribute('#verify', 'aria-pressed')).toBe('true');
    await pollUntil(() => safetyState(b.page), (s) => s.peer === 'verified', 5000, 'B sees A verified', b);
    await b.page.click('#verify');
    await pollUntil(() => safetyState(a.page), (s) => s.peer === 'verified', 5000, 'A sees B verified', a);
    expect(await a.page.isHidden('#safetyChanged')).toBe(true);

    // A new peer connection of the same pages: each page keeps its DTLS certificate for the visit,
    // so the number and both marks stay.
    const rebuildsBefore = await a.page.evaluate(() => (window as unknown as { __call: { call: { counters(): { rebuilds: number } } } }).__call.call.counters().rebuilds);
    await a.page.evaluate(() => (window as unknown as { __call: { call: { rebuild(): void } } }).__call.call.rebuild());
    await pollUntil(
      () => a.page.evaluate(() => (window as unknown as { __call: { call: { counters(): { rebuilds: number } } } }).__call.call.counters().rebuilds),
      (n) => n > rebuildsBefore,
      20_000,
      'a rebuild',
      a,
    );
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    for (const p of [a, b]) {
      const s = await pollUntil(() => safetyState(p.page), (x) => x.state === 'ready', 10_000, 'number after the rebuild', p);
      expect(s.text).toBe(before);
      expect(s.verifyPressed).toBe('true');
      expect(s.peer).toBe('verified');
      expect(s.changedHidden).toBe(true);
    }

    // B reloads the page: a new certificate, so a new number; A says so and both marks are cleared.
    await b.page.reload();
    const na = await pollUntil(() => safetyState(a.page), (s) => s.state === 'ready' && s.text !== before && !s.changedHidden, 30_000, 'new safety number and the changed notice', a);
    const nb = await pollUntil(() => safetyState(b.page), (s) => s.state === 'ready' && s.text === na.text, 30_000, 'the same new number on B', b);
    for (const s of [na, nb]) {
      expect(s.verifyPressed).toBe('false');
      expect(s.peer).toBe('none');
    }
    await Promise.all([waitForStatus(a, /^connected$/i), waitForStatus(b, /^connected$/i)]);
    // Marking the new number works again.
    await b.page.click('#verify');
    await pollUntil(() => safetyState(a.page), (s) => s.peer === 'verified', 5000, 'A sees B verified the new number', a);
  });
});
