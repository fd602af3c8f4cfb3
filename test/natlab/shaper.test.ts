/**
 * Self-test of the NAT lab's link shaper (test/natlab/shaper.ts + shaper.py): spliced between peer
 * A and its router, it must be transparent when idle and add exactly the loss, delay and bandwidth
 * limit it is told to, changeable at run time. Measured with a UDP echo server in the public
 * namespace and a prober in A (round-trip times per packet), and a TCP bulk transfer (proves
 * checksums and segment sizes survive the raw-socket path).
 *
 * Tolerances: the shaper's own timing (how late each frame left against its due time, counted by
 * shaper.py) must be within a few ms; the round trips the prober sees also carry the prober's own
 * scheduling noise on a loaded machine (which only ever adds time), so their 10th percentile is
 * judged against the unimpaired one ± DELAY_TOL_MS. Loss is judged on the shaper's counters and on the echoes (binomial, > 4 σ wide).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_ADDR, NatLab, labUnavailableReason, warnLabSkipped } from './lab.js';
import { attachShaper, shaperUnavailableReason, type LinkShaper, type ShaperStats } from './shaper.js';
import { answered, quantile, startEchoServer, udpProbe } from './udpProbe.js';

const skipReason = labUnavailableReason() ?? shaperUnavailableReason();
if (skipReason) warnLabSkipped(skipReason, 'NAT lab link shaper (test/natlab/shaper.test.ts)');

const S = LAB_ADDR.server;
/** How far the added round trip (10th percentile, seen by the prober) may be from the one set, ms. */
const DELAY_TOL_MS = 10;
/** Share of frames the shaper may send more than 5 ms after their due time. */
const LATE_SHARE = 0.02;

/** A TCP server in `pub` that echoes everything; the client in `a` sends `bytes` and checks the echo. */
const TCP_ECHO = `require('net').createServer((c) => c.pipe(c)).listen(7008, process.argv[1], () => process.stdout.write('listening\\n'));`;
const TCP_CLIENT = `
const n = Number(process.argv[2]), data = require('crypto').randomBytes(n), got = [];
let len = 0; const t0 = Date.now();
const c = require('net').connect(7008, process.argv[1], () => c.end(data));
c.on('data', (d) => { got.push(d); len += d.length; });
c.on('end', () => { const ok = Buffer.concat(got).equals(data); process.stdout.write(JSON.stringify({ ok, len, ms: Date.now() - t0 })); });
c.on('error', (e) => process.stdout.write(JSON.stringify({ ok: false, error: String(e) })));
`;

describe.skipIf(!!skipReason)(`NAT lab link shaper${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  let lab: NatLab;
  let link: LinkShaper;
  /** Round trip A ↔ pub without impairment (10th percentile), ms. */
  let baseMs = 0;

  beforeAll(async () => {
    lab = new NatLab();
    await lab.setup();
    link = await attachShaper(lab, 'a', 12345);
    await startEchoServer(lab, 'pub', S);
    const tcp = lab.spawn('pub', [process.execPath, '-e', TCP_ECHO, S]);
    await new Promise((r) => tcp.stdout!.once('data', r));
  });

  afterAll(() => {
    lab?.teardown();
    expect(lab ? lab.remainingNamespaces() : []).toEqual([]);
  });

  /** Probe with the current impairment; returns round-trip quantiles minus the unimpaired one. */
  async function addedRtt(count = 100, intervalMs = 10, size = 64): Promise<{ added: number; median: number; p90: number; received: number }> {
    const r = await udpProbe(lab, 'a', S, { count, intervalMs, size });
    const rtts = answered(r);
    return { added: quantile(rtts, 0.1) - baseMs, median: quantile(rtts, 0.5) - baseMs, p90: quantile(rtts, 0.9) - baseMs, received: r.received };
  }

  /** The shaper's own timing error over both directions since the last reset. */
  function expectPunctual(st: ShaperStats, what: string): void {
    const tx = st.up.tx + st.down.tx;
    const late = st.up.lateOver5ms + st.down.lateOver5ms;
    const meanLate = (st.up.lateSumMs + st.down.lateSumMs) / Math.max(1, tx);
    console.log(`[shaper] ${what}: ${tx} frames, mean lateness ${meanLate.toFixed(2)} ms, > 5 ms late ${late}, worst ${Math.max(st.up.lateMaxMs, st.down.lateMaxMs).toFixed(1)} ms (scheduling ${link.scheduling})`);
    expect(late / Math.max(1, tx), `${what}: frames sent > 5 ms late`).toBeLessThanOrEqual(LATE_SHARE);
    expect(meanLate, `${what}: mean lateness, ms`).toBeLessThanOrEqual(2);
  }

  const delta = (a: ShaperStats, b: ShaperStats, d: 'up' | 'down', k: 'rx' | 'lost' | 'tx' | 'queueDrops') => b[d][k] - a[d][k];

  it('idle: a plain cable (no loss, sub-ms added latency) that carries ARP, UDP and TCP', async () => {
    const r = await udpProbe(lab, 'a', S, { count: 200, intervalMs: 5 });
    expect(r.received, 'UDP echoes lost on an unimpaired link').toBe(200);
    baseMs = quantile(answered(r), 0.1);
    console.log(`[shaper] unimpaired UDP round trip A <-> pub: p10 ${baseMs.toFixed(2)} ms, median ${quantile(answered(r), 0.5).toFixed(2)} ms, p90 ${quantile(answered(r), 0.9).toFixed(2)} ms`);
    expect(baseMs).toBeLessThan(5);
    const st = await link.stats();
    expect(st.up.tx, 'frames did not cross the shaper').toBeGreaterThanOrEqual(200);
    expect(st.up.lost + st.down.lost + st.up.queueDrops + st.down.queueDrops).toBe(0);
    const tcp = await lab.run('a', [process.execPath, '-e', TCP_CLIENT, S, String(2_000_000)], { timeoutMs: 30_000 });
    expect(JSON.parse(tcp.stdout || '{}'), `TCP echo through the shaper: ${tcp.stdout}${tcp.stderr}`).toMatchObject({ ok: true, len: 2_000_000 });
  });

  it('delay: 150 ms both ways adds 300 ms to the round trip, 150 ms one way adds 150 ms, clear removes it', async () => {
    await link.resetStats();
    await link.impair({ delayMs: 150 });
    const both = await addedRtt();
    await link.impair({ delayMs: 150 }, 'up');
    await link.impair({}, 'down');
    const up = await addedRtt();
    await link.impair({ delayMs: 40 }, 'down');
    await link.impair({}, 'up');
    const down = await addedRtt();
    await link.clear();
    expectPunctual(await link.stats(), 'delays 150/40 ms');
    const cleared = await addedRtt();
    const show = (x: typeof both) => `${x.added.toFixed(1)} / ${x.median.toFixed(1)} / ${x.p90.toFixed(1)}`;
    console.log(`[shaper] added round trip (p10 / median / p90, ms): 150 both ${show(both)}; 150 up ${show(up)}; 40 down ${show(down)}; cleared ${show(cleared)}`);
    expect(both.received).toBe(100);
    expect(Math.abs(both.added - 300)).toBeLessThanOrEqual(DELAY_TOL_MS);
    expect(Math.abs(up.added - 150)).toBeLessThanOrEqual(DELAY_TOL_MS);
    expect(Math.abs(down.added - 40)).toBeLessThanOrEqual(DELAY_TOL_MS);
    expect(Math.abs(cleared.added)).toBeLessThanOrEqual(DELAY_TOL_MS);
  });

  it('loss: 10 % each way drops ≈ 10 % of frames per direction and ≈ 19 % of echoes; 0 % drops none', async () => {
    await link.impair({ lossPct: 10 });
    const before = await link.stats();
    const r = await udpProbe(lab, 'a', S, { count: 1000, intervalMs: 2 });
    const after = await link.stats();
    await link.clear();
    const upShare = delta(before, after, 'up', 'lost') / delta(before, after, 'up', 'rx');
    const downShare = delta(before, after, 'down', 'lost') / delta(before, after, 'down', 'rx');
    const echoLoss = 1 - r.received / r.sent;
    console.log(`[shaper] 10 % loss: up ${(upShare * 100).toFixed(1)} %, down ${(downShare * 100).toFixed(1)} %, echoes lost ${(echoLoss * 100).toFixed(1)} % (expected 19 %)`);
    // 1000 frames at p = 0.1: σ ≈ 0.95 %; echoes at p = 0.19: σ ≈ 1.24 %.
    expect(Math.abs(upShare - 0.1)).toBeLessThanOrEqual(0.04);
    expect(Math.abs(downShare - 0.1)).toBeLessThanOrEqual(0.045);
    expect(Math.abs(echoLoss - 0.19)).toBeLessThanOrEqual(0.05);
    const clean = await udpProbe(lab, 'a', S, { count: 300, intervalMs: 2, waitMs: 500 });
    expect(clean.received, 'echoes lost after the loss was cleared').toBe(300);
  });

  it('rate: a 1 Mbit/s bottleneck caps a 2 Mbit/s UDP flow at 1 Mbit/s, its queue stays within 300 ms, and tail-drops the rest', async () => {
    await link.impair({ rateKbit: 1000, queueMs: 300 }, 'up');
    await link.resetStats();
    const before = await link.stats();
    // 1000-byte payloads every 4 ms = 2 Mbit/s offered for 3 s; acks only, so "down" stays idle.
    const r = await udpProbe(lab, 'a', S, { count: 750, intervalMs: 4, size: 1000, ackOnly: true, waitMs: 1000 });
    const after = await link.stats();
    await link.clear();
    const spanS = (r.lastRecvMs - r.firstRecvMs) / 1000;
    const payloadKbit = ((r.receivedBytes - 1000) * 8) / 1000 / spanS;
    // The bottleneck counts whole frames: payload + 8 UDP + 20 IP + 14 Ethernet header bytes.
    const frameKbit = (payloadKbit * 1042) / 1000;
    const maxRttMs = Math.max(...answered(r)) - baseMs;
    const maxWaitMs = after.up.maxWaitMs;
    console.log(`[shaper] 1 Mbit/s up: ${frameKbit.toFixed(0)} kbit/s of frames over ${spanS.toFixed(2)} s, ${r.received}/${r.sent} acked, ` +
      `queue drops ${delta(before, after, 'up', 'queueDrops')}, longest wait in the shaper ${maxWaitMs.toFixed(1)} ms (longest added round trip ${maxRttMs.toFixed(0)} ms)`);
    expect(Math.abs(frameKbit - 1000) / 1000).toBeLessThanOrEqual(0.05);
    expect(delta(before, after, 'up', 'queueDrops'), 'an overloaded bottleneck must drop').toBeGreaterThan(200);
    expect(maxRttMs, 'the queue never filled').toBeGreaterThan(250);
    // 300 ms of queue + the frame's own 8.3 ms at 1 Mbit/s + the shaper's lateness.
    expect(maxWaitMs, 'a frame waited longer than the 300 ms queue allows').toBeLessThanOrEqual(300 + 8.4 + 5);
    expectPunctual(after, '1 Mbit/s bottleneck');
  });

  it('delay stays accurate under load: 150 ms one way with a 2 Mbit/s limit carrying 800 kbit/s', async () => {
    await link.impair({ delayMs: 150, rateKbit: 2000 }, 'up');
    await link.resetStats();
    // 1000-byte probes every 10 ms (800 kbit/s) up, echoed whole down (unlimited).
    const r = await udpProbe(lab, 'a', S, { count: 300, intervalMs: 10, size: 1000 });
    const st = await link.stats();
    await link.clear();
    const rtts = answered(r);
    // Expected: 150 ms + one 1042-byte frame at 2 Mbit/s (4.2 ms) on top of the unimpaired round trip.
    const added = quantile(rtts, 0.1) - baseMs;
    console.log(`[shaper] 150 ms + 2 Mbit/s up under 800 kbit/s: added p10 ${added.toFixed(1)} ms, median ${(quantile(rtts, 0.5) - baseMs).toFixed(1)} ms, p90 ${(quantile(rtts, 0.9) - baseMs).toFixed(1)} ms, ${r.received}/${r.sent} back`);
    expect(r.received).toBe(300);
    expect(Math.abs(added - 154.2)).toBeLessThanOrEqual(DELAY_TOL_MS);
    expectPunctual(st, '150 ms + 2 Mbit/s');
  });

  it('rejects bad settings with a clear error and keeps working', async () => {
    await expect(link.impair({ lossPct: 150 })).rejects.toThrow(/lossPct/);
    await expect(link.impair({ delayMs: -1 })).rejects.toThrow(/delayMs/);
    expect(link.current().up).toMatchObject({ lossPct: 0, delayMs: 0, rateKbit: 0 });
    const r = await udpProbe(lab, 'a', S, { count: 50, intervalMs: 5 });
    expect(r.received).toBe(50);
  });
});
