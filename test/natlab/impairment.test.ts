/**
 * A call on a bad network: A and B (each behind a port-preserving NAT in the lab, the real server
 * and relay in the public namespace) are in a call when A's link turns bad — 5 % loss, 150 ms
 * delay and a 1 Mbit/s bottleneck, each way (so +300 ms round trip) — for 20 s, then good again.
 * Asserted: the call stays connected (same peer connections, `connected` throughout); both sides
 * decode at least 10 frames per second over the 20 s; after the impairment is removed both sides
 * recover (frame rate back to ≥ 90 % of the rate before, within RECOVERY_TIMEOUT_MS). The
 * network-quality indicator (#netQuality) shows "fair" or "poor" on both pages while the link is
 * bad and "good" again after.
 *
 * The link shaper is test/natlab/shaper.ts; frame rates come from an in-page stats sampler
 * (callQuality.ts). Run `npm run build` first. Needs root, `ip netns`, iptables, python3, ethtool
 * and Chromium; skipped loudly otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, type Peer } from '../helpers/browser.js';
import type { RunningServer } from '../helpers/server.js';
import { netQualityState, qualityOver, qualitySamples, recoveredAfter, startQualitySampler, type QualityWindow } from './callQuality.js';
import { NatLab, labUnavailableReason, warnLabSkipped } from './lab.js';
import { describePair, expectMediaFlowingSoon, startCall, startLabServer, statusText, stopLabServer } from './labCall.js';
import { attachShaper, shaperUnavailableReason, type LinkImpairment, type LinkShaper } from './shaper.js';

const skipReason = labUnavailableReason() ?? shaperUnavailableReason() ?? (haveChromium ? null : 'Chromium not installed (/usr/bin/chromium; set CHROMIUM_PATH)');
if (skipReason) warnLabSkipped(skipReason, 'NAT lab call on an impaired link (test/natlab/impairment.test.ts)');

/** The bad network of the scenario, applied to each direction of A's link. */
const BAD: LinkImpairment = { lossPct: 5, delayMs: 150, rateKbit: 1000 };
const IMPAIRED_MS = 20_000;
const BASELINE_MS = 4000;
const MIN_FPS = 10;
const RECOVERY_TIMEOUT_MS = 20_000;
/** How long the network-quality indicator may take to read "good" again after the frame rate recovered. */
const NET_GOOD_TIMEOUT_MS = 25_000;

const fmt = (w: QualityWindow) =>
  `${w.fps.toFixed(1)} fps, ${w.freezes} freezes (longest gap ${w.longestGapMs} ms${w.freezes ? `; at+length ms ${w.freezeList.map((f) => `${f.atMs}+${f.ms}`).join(' ')}` : ''}), audio concealed ${(w.concealment * 100).toFixed(1)} %, RTT ${w.rttMs.toFixed(0)} ms, states ${w.states.join('/')}`;

describe.skipIf(!!skipReason)(`NAT lab: a call on an impaired link${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  let lab: NatLab;
  let link: LinkShaper;
  let server: RunningServer | undefined;
  const peers: Peer[] = [];

  beforeAll(async () => {
    lab = new NatLab({ natA: 'port-preserving', natB: 'port-preserving' });
    await lab.setup();
    link = await attachShaper(lab, 'a');
    server = await startLabServer(lab);
  });

  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    if (server) await stopLabServer(server).catch(() => undefined);
    lab?.teardown();
  });

  it(`A's link at ${BAD.lossPct} % loss, ${BAD.delayMs} ms delay, ${BAD.rateKbit} kbit/s for ${IMPAIRED_MS / 1000} s: stays connected, both decode ≥ ${MIN_FPS} fps, recovers after`, async () => {
    const { a, b } = await startCall(lab, server!, peers);
    const [sa, sb] = await Promise.all([expectMediaFlowingSoon(a), expectMediaFlowingSoon(b)]);
    console.log(`[impair] call up: A ${describePair(sa)}, B ${describePair(sb)}`);
    const pcsBefore = await Promise.all([a, b].map((p) => p.page.evaluate(() => (window as unknown as { __pcs: unknown[] }).__pcs.length)));
    await Promise.all([startQualitySampler(a.page), startQualitySampler(b.page)]);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, BASELINE_MS));

    await link.impair(BAD);
    const impairedAt = Date.now();
    // Poll both sides' state through the impairment: `connected` all along.
    const seen: string[] = [];
    while (Date.now() - impairedAt < IMPAIRED_MS) {
      const [qa, qb] = await Promise.all([qualitySamples(a.page, Date.now() - 1200), qualitySamples(b.page, Date.now() - 1200)]);
      for (const [name, q] of [['A', qa], ['B', qb]] as const) {
        for (const s of q) if (s.state && s.state !== 'connected') seen.push(`+${s.t - impairedAt} ms ${name} ${s.state}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    const restoredAt = Date.now();
    const imp = { a: await netQualityState(a.page), b: await netQualityState(b.page) };

    // Network-quality indicator, while the link is still bad: both pages show "fair" or "poor".
    console.log(`[impair] #netQuality while impaired: A ${JSON.stringify(imp.a)}, B ${JSON.stringify(imp.b)}`);
    expect(imp.a.present && imp.b.present, '#netQuality missing').toBe(true);
    expect(['fair', 'poor'], "A's indicator on the bad link").toContain(imp.a.state);
    expect(['fair', 'poor'], "B's indicator on the bad link").toContain(imp.b.state);

    await link.clear();
    const [qa, qb] = await Promise.all([qualitySamples(a.page, t0), qualitySamples(b.page, t0)]);
    const base = { a: qualityOver(qa, t0 + 1000, impairedAt), b: qualityOver(qb, t0 + 1000, impairedAt) };
    const bad = { a: qualityOver(qa, impairedAt, restoredAt), b: qualityOver(qb, impairedAt, restoredAt) };
    console.log(`[impair] before: A ${fmt(base.a)}\n[impair]         B ${fmt(base.b)}`);
    console.log(`[impair] impaired ${IMPAIRED_MS / 1000} s (${JSON.stringify(BAD)} each way): A ${fmt(bad.a)}\n[impair]         B ${fmt(bad.b)}`);
    console.log(`[impair] shaper: ${JSON.stringify(await link.stats())}`);

    expect(seen, 'a peer connection left `connected` during the impairment').toEqual([]);
    expect(bad.a.states.concat(bad.b.states).every((s) => s === 'connected')).toBe(true);
    const pcsAfter = await Promise.all([a, b].map((p) => p.page.evaluate(() => (window as unknown as { __pcs: unknown[] }).__pcs.length)));
    expect(pcsAfter, 'a peer connection was rebuilt during the impairment').toEqual(pcsBefore);
    expect(bad.a.fps, `A decoded ${bad.a.fps.toFixed(1)} fps on the bad link`).toBeGreaterThanOrEqual(MIN_FPS);
    expect(bad.b.fps, `B decoded ${bad.b.fps.toFixed(1)} fps on the bad link`).toBeGreaterThanOrEqual(MIN_FPS);
    // The impairment really was there: round trip up by ≈ 300 ms and frames lost to it.
    expect(bad.a.rttMs - base.a.rttMs, 'the round trip did not grow: is the shaper in the path?').toBeGreaterThan(200);
    const st = await link.stats();
    expect(st.up.lost + st.down.lost).toBeGreaterThan(0);

    // Recovery: both sides back to ≥ 90 % of their frame rate before, within RECOVERY_TIMEOUT_MS.
    const target = { a: 0.9 * base.a.fps, b: 0.9 * base.b.fps };
    let rec: { a: number | null; b: number | null } = { a: null, b: null };
    while (Date.now() - restoredAt < RECOVERY_TIMEOUT_MS + 1500) {
      await new Promise((r) => setTimeout(r, 1000));
      const [ra, rb] = await Promise.all([qualitySamples(a.page, restoredAt - 1000), qualitySamples(b.page, restoredAt - 1000)]);
      rec = { a: recoveredAfter(ra, restoredAt, target.a, restoredAt + RECOVERY_TIMEOUT_MS), b: recoveredAfter(rb, restoredAt, target.b, restoredAt + RECOVERY_TIMEOUT_MS) };
      if (rec.a !== null && rec.b !== null) break;
    }
    console.log(`[impair] recovered (≥ 90 % of the frame rate before) ${rec.a} ms (A) and ${rec.b} ms (B) after the impairment ended`);
    expect(rec.a, `A's frame rate not back to ${target.a.toFixed(1)} fps within ${RECOVERY_TIMEOUT_MS} ms`).not.toBeNull();
    expect(rec.b, `B's frame rate not back to ${target.b.toFixed(1)} fps within ${RECOVERY_TIMEOUT_MS} ms`).not.toBeNull();
    await Promise.all([expectMediaFlowingSoon(a), expectMediaFlowingSoon(b)]);
    for (const p of [a, b]) expect((await statusText(p)).trim()).toMatch(/^connected$/i);

    // Network-quality indicator: back to "good" on both pages once the link is good again (loss is
    // measured over ≈ 6 s and an improvement needs two samples in a row: client/src/netQuality.ts).
    const goodFrom = Date.now();
    let q = { a: await netQualityState(a.page), b: await netQualityState(b.page) };
    while (!(q.a.state === 'good' && q.b.state === 'good') && Date.now() - goodFrom < NET_GOOD_TIMEOUT_MS) {
      await new Promise((r) => setTimeout(r, 500));
      q = { a: await netQualityState(a.page), b: await netQualityState(b.page) };
    }
    console.log(`[impair] #netQuality after recovery (${Date.now() - goodFrom} ms more): A ${JSON.stringify(q.a)}, B ${JSON.stringify(q.b)}`);
    expect(q.a.state, "A's indicator after the impairment").toBe('good');
    expect(q.b.state, "B's indicator after the impairment").toBe('good');
  }, 180_000);
});
