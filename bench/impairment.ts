/// <reference lib="dom" />
/**
 * Benchmark (not a test): how a call holds up on bad networks. One NAT-lab call (real server and
 * relay in the lab's public namespace, two headless Chromium peers behind port-preserving NATs,
 * direct srflx path) with a link shaper on A's link (test/natlab/shaper.ts). For each cell of the
 * grid loss × delay × bandwidth (applied to each direction of A's link, so the round trip grows by
 * twice the delay), in one call:
 *
 *   impair → wait --settle s → measure --measure s → restore → measure the recovery
 *
 * and report per side (A decodes what crosses A's link downwards, B what crosses it upwards):
 * - fps: decoded video frames per second over the measured window;
 * - freezes: gaps > 500 ms between decoded frames, from `framesDecoded` sampled every 50 ms in the
 *   page (resolution 50 ms), and the longest gap; Chromium's own inbound-rtp freezeCount (its rule:
 *   a frame later than max(3 × mean interval, mean + 150 ms)) is in the JSON as `chromeFreezes`;
 * - audio concealment: concealedSamples / totalSamplesReceived over the window;
 * - recovery: ms from the end of the impairment until the first 1-s window whose frame rate is
 *   ≥ 90 % of the unimpaired rate (measured before the first cell; null = not within --recover-max).
 * The call is rebuilt when a cell leaves it without frames (reported as `callRestarted`).
 * Goal checked (reported, not asserted): at 10 % loss and 150 ms delay, no freeze longer than 1 s
 * and at least 10 fps on both sides.
 *
 * Run: `npm run bench:impairment -- [--loss 0,2,5,10,20] [--delay 20,150,400] [--rate 512,2000]
 *   [--cells 10/150/512,10/150/2000] [--measure 10] [--settle 3] [--warmup 5] [--baseline 6] [--json out.json]`
 * (builds first). Needs root, `ip netns`, iptables, python3, ethtool and /usr/bin/chromium. All
 * traffic stays inside the lab's namespaces; bounded by --max-minutes.
 */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { haveChromium, type Peer } from '../test/helpers/browser.js';
import type { RunningServer } from '../test/helpers/server.js';
import { qualityOver, qualitySamples, recoveredAfter, startQualitySampler, type QualityWindow } from '../test/natlab/callQuality.js';
import { NatLab, labUnavailableReason } from '../test/natlab/lab.js';
import { expectMediaFlowingSoon, startCall, startLabServer, stopLabServer, type LabCall } from '../test/natlab/labCall.js';
import { attachShaper, shaperUnavailableReason, type LinkShaper, type ShaperStats } from '../test/natlab/shaper.js';

const list = (v: string) => v.split(',').map((x) => Number(x.trim()));
const opts = new Command()
  .name('bench:impairment')
  .option('--loss <pcts>', 'random loss per direction, %', '0,2,5,10,20')
  .option('--delay <ms>', 'one-way delay per direction, ms', '20,150,400')
  .option('--rate <kbits>', 'bottleneck per direction, kbit/s', '512,2000')
  .option('--cells <list>', 'only these cells, as loss/delay/rate (e.g. 10/150/512,10/150/2000); overrides the grid')
  .option('--measure <s>', 'measured seconds per cell', '10')
  .option('--settle <s>', 'seconds after impairing before measuring (the onset transient)', '3')
  .option('--warmup <s>', 'unimpaired seconds after the call starts before the reference is measured', '5')
  .option('--baseline <s>', 'unimpaired seconds measured for the reference frame rate', '6')
  .option('--recover-max <s>', 'longest wait for recovery after a cell, s', '15')
  .option('--queue <ms>', 'bottleneck queue, ms', '300')
  .option('--seed <n>', 'seed of the random loss')
  .option('--json <file>', 'also write the results as JSON to this file')
  .option('--max-minutes <n>', 'hard limit for the whole run', '45')
  .parse()
  .opts<{ loss: string; delay: string; rate: string; cells?: string; measure: string; settle: string; warmup: string; baseline: string; recoverMax: string; queue: string; seed?: string; json?: string; maxMinutes: string }>();

interface Cell {
  lossPct: number;
  delayMs: number;
  rateKbit: number;
}

interface Side {
  fps: number;
  freezes: number;
  longestGapMs: number;
  freezeMs: number;
  chromeFreezes: number;
  chromeFreezeMs: number;
  concealment: number;
  recoveryMs: number | null;
}

interface CellResult extends Cell {
  a: Side;
  b: Side;
  rttMs: number;
  /** Frames the shaper dropped in the cell: random loss and full queue, both directions. */
  shaperLost: number;
  shaperQueueDrops: number;
  callRestarted: boolean;
  /** For 10 % / 150 ms cells: whether the goal held (longest gap ≤ 1 s and ≥ 10 fps on both sides). */
  goal?: boolean;
}

function cells(): Cell[] {
  if (opts.cells) {
    return opts.cells.split(',').map((c) => {
      const [lossPct, delayMs, rateKbit] = c.split('/').map(Number);
      if (![lossPct, delayMs, rateKbit].every((x) => Number.isFinite(x))) throw new Error(`bad cell "${c}" (want loss/delay/rate)`);
      return { lossPct: lossPct!, delayMs: delayMs!, rateKbit: rateKbit! };
    });
  }
  const out: Cell[] = [];
  for (const rateKbit of list(opts.rate)) for (const delayMs of list(opts.delay)) for (const lossPct of list(opts.loss)) out.push({ lossPct, delayMs, rateKbit });
  return out;
}

const cleanups: Array<() => Promise<void> | void> = [];
const cleanup = () => Promise.allSettled(cleanups.splice(0).reverse().map((c) => c()));
setTimeout(() => {
  console.error(`bench:impairment: --max-minutes ${opts.maxMinutes} reached; stopping`);
  void cleanup().then(() => process.exit(2));
}, Number(opts.maxMinutes) * 60_000).unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().then(() => process.exit(130)));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function side(w: QualityWindow, recoveryMs: number | null): Side {
  const { fps, freezes, longestGapMs, freezeMs, chromeFreezes, chromeFreezeMs, concealment } = w;
  return { fps, freezes, longestGapMs, freezeMs, chromeFreezes, chromeFreezeMs, concealment, recoveryMs };
}

const sum = (s: ShaperStats, k: 'lost' | 'queueDrops') => s.up[k] + s.down[k];

async function main(): Promise<void> {
  const reason = labUnavailableReason() ?? shaperUnavailableReason() ?? (haveChromium ? null : 'Chromium not installed (/usr/bin/chromium)');
  if (reason) throw new Error(`cannot run: ${reason}`);
  const grid = cells();
  const measureMs = Number(opts.measure) * 1000;
  const settleMs = Number(opts.settle) * 1000;
  const recoverMaxMs = Number(opts.recoverMax) * 1000;
  const lab = new NatLab({ prefix: 'benchimp' });
  await lab.setup();
  cleanups.push(() => lab.teardown());
  const link: LinkShaper = await attachShaper(lab, 'a', opts.seed === undefined ? undefined : Number(opts.seed));
  const server: RunningServer = await startLabServer(lab, { LOG_LEVEL: 'warn' });
  cleanups.push(() => stopLabServer(server).catch(() => undefined));
  const peers: Peer[] = [];
  cleanups.push(() => Promise.all(peers.splice(0).map((p) => p.close())).then(() => undefined));

  let call: LabCall | undefined;
  let baseFps = { a: 0, b: 0 };
  const newCall = async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    await link.clear();
    call = await startCall(lab, server, peers);
    await Promise.all([expectMediaFlowingSoon(call.a), expectMediaFlowingSoon(call.b)]);
    await Promise.all([startQualitySampler(call.a.page), startQualitySampler(call.b.page)]);
    await sleep(Number(opts.warmup) * 1000);
    const t0 = Date.now();
    await sleep(Number(opts.baseline) * 1000);
    const [qa, qb] = await Promise.all([qualitySamples(call.a.page, t0), qualitySamples(call.b.page, t0)]);
    const wa = qualityOver(qa, t0, Date.now());
    const wb = qualityOver(qb, t0, Date.now());
    baseFps = { a: wa.fps, b: wb.fps };
    console.log(`unimpaired: A ${wa.fps.toFixed(1)} fps, B ${wb.fps.toFixed(1)} fps, RTT ${wa.rttMs.toFixed(0)} ms (shaper scheduling: ${link.scheduling})`);
  };

  console.log(`bench:impairment — ${grid.length} cells, impairment on each direction of A's link; settle ${opts.settle} s, measure ${opts.measure} s, queue ${opts.queue} ms; two headless Chromium on a shared 2-core machine`);
  await newCall();
  const results: CellResult[] = [];
  const started = Date.now();
  for (const [i, cell] of grid.entries()) {
    const { a, b } = call!;
    const before = await link.stats();
    await link.impair({ ...cell, queueMs: Number(opts.queue) });
    const impairedAt = Date.now();
    await sleep(settleMs + measureMs);
    const from = impairedAt + settleMs;
    const to = Date.now();
    await link.clear();
    const after = await link.stats();
    const restoredAt = Date.now();
    const [qa, qb] = await Promise.all([qualitySamples(a.page, from - 2000), qualitySamples(b.page, from - 2000)]);
    const wa = qualityOver(qa, from, to);
    const wb = qualityOver(qb, from, to);
    // Recovery: poll until both sides had a 1-s window at ≥ 90 % of the unimpaired frame rate.
    let rec: { a: number | null; b: number | null } = { a: null, b: null };
    while (Date.now() - restoredAt < recoverMaxMs + 1200) {
      await sleep(1000);
      const [ra, rb] = await Promise.all([qualitySamples(a.page, restoredAt - 1000), qualitySamples(b.page, restoredAt - 1000)]);
      rec = { a: recoveredAfter(ra, restoredAt, 0.9 * baseFps.a, restoredAt + recoverMaxMs), b: recoveredAfter(rb, restoredAt, 0.9 * baseFps.b, restoredAt + recoverMaxMs) };
      if (rec.a !== null && rec.b !== null) break;
    }
    const r: CellResult = {
      ...cell,
      a: side(wa, rec.a),
      b: side(wb, rec.b),
      rttMs: wa.rttMs,
      shaperLost: sum(after, 'lost') - sum(before, 'lost'),
      shaperQueueDrops: sum(after, 'queueDrops') - sum(before, 'queueDrops'),
      callRestarted: false,
    };
    if (cell.lossPct === 10 && cell.delayMs === 150) r.goal = [r.a, r.b].every((s) => s.longestGapMs <= 1000 && s.fps >= 10);
    results.push(r);
    console.log(`[${i + 1}/${grid.length}] ${row(r)}`);
    if (rec.a === null && rec.b === null) {
      const stalled = [qualityOver(qa, to - 1000, to), qualityOver(qb, to - 1000, to)].every((w) => w.fps === 0);
      if (stalled || wa.states.some((s) => s !== 'connected')) {
        console.log('  the call did not recover: starting a new one');
        r.callRestarted = true;
        await newCall();
      }
    }
  }
  const elapsedS = (Date.now() - started) / 1000;
  console.log(`\n${header()}\n${results.map(row).join('\n')}`);
  console.log(`\nfps = decoded frames/s; frz = gaps > 500 ms between decoded frames (framesDecoded sampled every 50 ms in the page); gap = longest gap, ms;`);
  console.log(`conc = audio concealedSamples/totalSamplesReceived; rec = ms until a 1-s window at >= 90 % of the unimpaired fps (A ${baseFps.a.toFixed(1)}, B ${baseFps.b.toFixed(1)}); RTT = Chromium's currentRoundTripTime.`);
  const goalCells = results.filter((r) => r.goal !== undefined);
  if (goalCells.length) {
    console.log(`goal (10 % loss, 150 ms: no freeze > 1 s, >= 10 fps, both sides): ${goalCells.map((r) => `${r.rateKbit} kbit/s ${r.goal ? 'met' : 'MISSED'}`).join(', ')}`);
  }
  console.log(`grid took ${elapsedS.toFixed(0)} s`);
  const json = { settings: { ...opts, baseFps }, results };
  console.log(`\nJSON ${JSON.stringify(json)}`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(json, null, 2));
}

function header(): string {
  return `${'loss'.padStart(4)} ${'delay'.padStart(5)} ${'kbit'.padStart(5)} | ${'fps A'.padStart(5)} ${'fps B'.padStart(5)} | ${'frz A'.padStart(5)} ${'frz B'.padStart(5)} | ${'gap A'.padStart(5)} ${'gap B'.padStart(5)} | ${'conc A'.padStart(6)} ${'conc B'.padStart(6)} | ${'rec A'.padStart(6)} ${'rec B'.padStart(6)} | ${'RTT'.padStart(5)} | ${'lost'.padStart(5)} ${'qdrop'.padStart(5)}`;
}

function row(r: CellResult): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-').padStart(6);
  const ms = (x: number | null) => (x === null ? '>max' : String(Math.round(x))).padStart(6);
  return (
    `${String(r.lossPct).padStart(3)}% ${String(r.delayMs).padStart(5)} ${String(r.rateKbit).padStart(5)} | ${r.a.fps.toFixed(1).padStart(5)} ${r.b.fps.toFixed(1).padStart(5)} | ` +
    `${String(r.a.freezes).padStart(5)} ${String(r.b.freezes).padStart(5)} | ${String(Math.round(r.a.longestGapMs)).padStart(5)} ${String(Math.round(r.b.longestGapMs)).padStart(5)} | ` +
    `${pct(r.a.concealment)} ${pct(r.b.concealment)} | ${ms(r.a.recoveryMs)} ${ms(r.b.recoveryMs)} | ${(Number.isFinite(r.rttMs) ? r.rttMs.toFixed(0) : '-').padStart(5)} | ` +
    `${String(r.shaperLost).padStart(5)} ${String(r.shaperQueueDrops).padStart(5)}${r.goal === undefined ? '' : r.goal ? '  goal met' : '  goal MISSED'}${r.callRestarted ? '  (call restarted)' : ''}`
  );
}

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (err) => {
    console.error(`bench:impairment failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exit(1);
  },
);
