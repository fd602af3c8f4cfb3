/**
 * Issue 6, network cut: in a call between A and B (each behind a port-preserving NAT in the lab,
 * the real server and relay in the public namespace), ALL of A's traffic is dropped at its router
 * for 8 s (media, ICE, signaling), then let through again. The call must recover by ICE restart:
 * the page shows "Reconnecting…" during the cut, frames are decoded again afterwards, and the
 * impolite side (A, the first joiner) counted at least one ICE restart.
 *
 * Run `npm run build` first. Needs root, `ip netns`, iptables and Chromium; skipped loudly otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMediaFlowing, haveChromium, mediaStats, waitForStats, type Peer } from '../helpers/browser.js';
import type { RunningServer } from '../helpers/server.js';
import { NatLab, labUnavailableReason, warnLabSkipped } from './lab.js';
import { callCounters, describePair, startCall, startLabServer, statusText, stopLabServer } from './labCall.js';

const labReason = labUnavailableReason();
const skipReason = labReason ?? (haveChromium ? null : 'Chromium not installed (/usr/bin/chromium; set CHROMIUM_PATH)');
if (skipReason) warnLabSkipped(skipReason, 'NAT lab network cut (test/natlab/network-cut.test.ts)');

/** How long A's traffic is dropped, ms. */
const CUT_MS = 8000;

describe.skipIf(!!skipReason)(`NAT lab: network cut and ICE restart${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  let lab: NatLab;
  let server: RunningServer | undefined;
  const peers: Peer[] = [];

  beforeAll(async () => {
    lab = new NatLab({ natA: 'port-preserving', natB: 'port-preserving' });
    await lab.setup();
    server = await startLabServer(lab);
  });

  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    if (server) await stopLabServer(server).catch(() => undefined);
    lab?.teardown();
  });

  it(`A's network is cut for ${CUT_MS / 1000} s: "Reconnecting", then the call recovers by ICE restart`, async () => {
    const call = await startCall(lab, server!, peers);
    const { a, b } = call;
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    const before = await callCounters(a);
    expect(before, 'window.__call.call.counters() missing on the page').not.toBeNull();

    // Cut: poll both status lines while A's traffic is dropped.
    const seen = { a: new Set<string>(), b: new Set<string>() };
    lab.cut('a');
    const cutAt = Date.now();
    let framesAtB = -1;
    while (Date.now() - cutAt < CUT_MS) {
      const [sa, sb] = await Promise.all([statusText(a), statusText(b)]);
      seen.a.add(sa);
      seen.b.add(sb);
      // In the last second of the cut, remember B's decoded frames to prove media really stopped.
      if (framesAtB < 0 && Date.now() - cutAt > CUT_MS - 1500) framesAtB = (await mediaStats(b.page)).videoFramesDecoded;
      await new Promise((r) => setTimeout(r, 250));
    }
    const framesAtEndOfCut = (await mediaStats(b.page)).videoFramesDecoded;
    lab.restore('a');
    const restoredAt = Date.now();

    expect(framesAtEndOfCut - framesAtB, 'video kept flowing to B during the cut: the cut did not cut').toBeLessThanOrEqual(2);
    const reconnecting = [...seen.a, ...seen.b].some((s) => /reconnecting/i.test(s));
    expect(reconnecting, `#status never said "Reconnecting" during the cut; A saw ${JSON.stringify([...seen.a])}, B saw ${JSON.stringify([...seen.b])}`).toBe(true);

    // Recovery: both connected, then frames decoded again (counters increase over 2 s).
    await Promise.all([
      waitForStats(a, (s) => s.connectionState === 'connected', 45_000, 'A connected again'),
      waitForStats(b, (s) => s.connectionState === 'connected', 45_000, 'B connected again'),
    ]);
    const connectedAgainMs = Date.now() - restoredAt;
    const [sa, sb] = await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    await Promise.all([
      a.page.waitForFunction(() => /^connected$/i.test((document.getElementById('status')?.textContent ?? '').trim()), undefined, { timeout: 10_000 }),
      b.page.waitForFunction(() => /^connected$/i.test((document.getElementById('status')?.textContent ?? '').trim()), undefined, { timeout: 10_000 }),
    ]).catch(async () => {
      throw new Error(`#status not back to "Connected": A "${await statusText(a)}", B "${await statusText(b)}"`);
    });

    const after = await callCounters(a);
    console.log(
      `[natlab] network cut ${CUT_MS} ms: connected again ${connectedAgainMs} ms after restore; ` +
        `A status seen ${JSON.stringify([...seen.a])}; B ${JSON.stringify([...seen.b])}; ` +
        `A counters before ${JSON.stringify(before)} after ${JSON.stringify(after)}; pair A ${describePair(sa)}, B ${describePair(sb)}`,
    );
    expect(after!.iceRestarts, 'A (impolite) never restarted ICE').toBeGreaterThan(before!.iceRestarts ?? 0);
    // The restart completed: its offer was answered.
    expect(after!.answersReceived, 'the ICE-restart offer was never answered').toBeGreaterThan(before!.answersReceived ?? 0);
  }, 120_000);
});
