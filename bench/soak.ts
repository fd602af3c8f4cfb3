/// <reference lib="dom" />
/**
 * Soak (not a test): one relay-only call (`?relay=1`) between two headless Chromium pages through
 * the embedded relay of the real server (`node dist/server/main.js`, the relay as its child on the
 * data path TURN_DATA_PATH chooses: native by default), for `--minutes` (default 30).
 *
 * Measured:
 * - frame stalls: each page polls its inbound video `framesDecoded` every 50 ms and records every gap
 *   between two increases; a gap over 1 s is a stall (also Chromium's own `freezeCount` /
 *   `totalFreezesDuration`);
 * - relay memory: the relay child's RSS (/proc/PID/status, pid from the admin API) every
 *   `--sample-s`; "flat" = the largest RSS after the warm-up within 10 % of the RSS at the end of the
 *   warm-up (the first sample at or after min(2 min, a third of the run));
 * - relay CPU and the relayed packets, and the candidate types (both must stay `relay`).
 *
 * Goals: no frame stall over 1 s; relay RSS flat within 10 %.
 * Run: `npm run bench:soak -- [--minutes 30] [--sample-s 30] [--data-path native|js|auto]` (builds
 * first). Needs /usr/bin/chromium. Everything on loopback; bounded by --minutes plus 5 minutes.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Page } from 'playwright-core';
import type { TurnStats } from '../contracts/relay.js';
import { connectedPair } from '../test/browser/call-helpers.js';
import { haveChromium, mediaStats, type Peer } from '../test/helpers/browser.js';
import { httpsGet, removeServerDirs, startServer, type RunningServer } from '../test/helpers/server.js';

const ADMIN_TOKEN = 'soak-admin-token-0123456789abcdef';
const STALL_MS = 1000;

const opts = new Command()
  .name('bench:soak')
  .option('--minutes <n>', 'length of the call', '30')
  .option('--sample-s <n>', 'seconds between samples', '30')
  .option('--data-path <kind>', 'TURN_DATA_PATH of the relay: native, js or auto', 'auto')
  .parse()
  .opts<{ minutes: string; sampleS: string; dataPath: string }>();

const minutes = Number(opts.minutes);
const sampleS = Number(opts.sampleS);
if (!(minutes > 0) || !(sampleS >= 1)) throw new RangeError('--minutes > 0 and --sample-s >= 1');

const cleanups: Array<() => Promise<unknown> | unknown> = [];
setTimeout(
  () => {
    console.error('bench:soak: time limit reached; stopping');
    void Promise.allSettled(cleanups.map((c) => c())).then(() => process.exit(2));
  },
  (minutes + 5) * 60_000,
).unref();

/** Page-side stall monitor: gaps between increases of inbound video framesDecoded. */
async function armStallMonitor(page: Page): Promise<void> {
  await page.evaluate((stallMs) => {
    const w = window as unknown as { __pcs?: RTCPeerConnection[]; __soak?: { frames: number; lastAt: number; maxGapMs: number; stalls: Array<{ at: string; ms: number }> } };
    const state = { frames: 0, lastAt: performance.now(), maxGapMs: 0, stalls: [] as Array<{ at: string; ms: number }> };
    w.__soak = state;
    const tick = async () => {
      const pc = (w.__pcs ?? []).filter((p) => p.connectionState !== 'closed').at(-1);
      if (pc) {
        let frames = 0;
        (await pc.getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
        });
        const now = performance.now();
        if (frames > state.frames) {
          const gap = now - state.lastAt;
          if (gap > state.maxGapMs) state.maxGapMs = gap;
          if (gap > stallMs) state.stalls.push({ at: new Date().toISOString(), ms: Math.round(gap) });
          state.frames = frames;
          state.lastAt = now;
        }
      }
      setTimeout(() => void tick(), 50);
    };
    void tick();
  }, STALL_MS);
}

interface PageSoak {
  frames: number;
  maxGapMs: number;
  stalls: Array<{ at: string; ms: number }>;
  freezeCount: number;
  totalFreezesDurationS: number;
  sinceLastFrameMs: number;
}

async function pageSoak(page: Page): Promise<PageSoak> {
  return page.evaluate(async () => {
    const w = window as unknown as { __pcs?: RTCPeerConnection[]; __soak: { frames: number; lastAt: number; maxGapMs: number; stalls: Array<{ at: string; ms: number }> } };
    let freezeCount = 0;
    let totalFreezesDurationS = 0;
    const pc = (w.__pcs ?? []).filter((p) => p.connectionState !== 'closed').at(-1);
    if (pc) {
      (await pc.getStats()).forEach((s: { type: string; kind?: string; freezeCount?: number; totalFreezesDuration?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          freezeCount += s.freezeCount ?? 0;
          totalFreezesDurationS += s.totalFreezesDuration ?? 0;
        }
      });
    }
    const s = w.__soak;
    return { frames: s.frames, maxGapMs: Math.round(s.maxGapMs), stalls: [...s.stalls], freezeCount, totalFreezesDurationS, sinceLastFrameMs: Math.round(performance.now() - s.lastAt) };
  });
}

interface RelayView {
  pid: number;
  stats: TurnStats;
}

async function relayView(server: RunningServer): Promise<RelayView> {
  const res = await httpsGet(`${server.url}/api/admin/relay`, { authorization: `Bearer ${ADMIN_TOKEN}` });
  const body = JSON.parse(res.body) as { status: { pid?: number } | null; stats: TurnStats | null };
  if (res.status !== 200 || !body.stats || !body.status?.pid) throw new Error(`admin API: ${res.status} ${res.body}`);
  return { pid: body.status.pid, stats: body.stats };
}

function procOf(pid: number): { rssMb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMb: Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024, cpuS: (Number(f[11]) + Number(f[12])) / 100 };
}

const load1 = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

async function main(): Promise<void> {
  if (!haveChromium) throw new Error('no Chromium (/usr/bin/chromium or CHROMIUM_PATH)');
  const server = await startServer({ env: { TURN_ALLOWED_PEERS: '', ADMIN_TOKEN, TURN_DATA_PATH: opts.dataPath, LOG_LEVEL: 'warn' } });
  cleanups.push(async () => {
    await server.stop();
    removeServerDirs(server);
  });
  const peers: Peer[] = [];
  cleanups.unshift(() => Promise.allSettled(peers.map((p) => p.close())));
  const { a, b } = await connectedPair(peers, server.url, 'relay=1');
  await Promise.all([armStallMonitor(a.page), armStallMonitor(b.page)]);
  const first = await relayView(server);
  const dp = first.stats.dataPath;
  console.log(`bench:soak — ${minutes} min relay-only call, two headless Chromium pages, relay pid ${first.pid} on the ${dp.kind} data path (${dp.threads} thread(s))${dp.fallbackReason ? `; fallback: ${dp.fallbackReason}` : ''}`);
  console.log('   min  load1  relay RSS MB  relay CPU s  allocations  relayed c2p/p2c pkts   frames A/B     max gap A/B ms  stalls>1s A/B  candidates A/B');
  const cpu0 = procOf(first.pid).cpuS;
  const started = Date.now();
  const warmupMs = Math.min(120_000, (minutes * 60_000) / 3);
  const samples: Array<{ t: number; rssMb: number }> = [];
  let end: { a: PageSoak; b: PageSoak; relay: RelayView } | undefined;
  for (;;) {
    const elapsed = Date.now() - started;
    const [sa, sb, relay, ma, mb] = await Promise.all([pageSoak(a.page), pageSoak(b.page), relayView(server), mediaStats(a.page), mediaStats(b.page)]);
    const p = procOf(relay.pid);
    samples.push({ t: elapsed, rssMb: p.rssMb });
    const r = relay.stats.relayed;
    console.log(
      `${(elapsed / 60_000).toFixed(1).padStart(6)}  ${load1().toFixed(1).padEnd(5)}  ${p.rssMb.toFixed(1).padEnd(12)}  ${(p.cpuS - cpu0).toFixed(1).padEnd(11)}  ${String(relay.stats.allocations.current).padEnd(11)}  ${`${r.clientToPeer.packets}/${r.peerToClient.packets}`.padEnd(20)}  ${`${sa.frames}/${sb.frames}`.padEnd(13)}  ${`${sa.maxGapMs}/${sb.maxGapMs}`.padEnd(14)}  ${`${sa.stalls.length}/${sb.stalls.length}`.padEnd(13)}  ${ma.localCandidateType}-${ma.remoteCandidateType}/${mb.localCandidateType}-${mb.remoteCandidateType}`,
    );
    end = { a: sa, b: sb, relay };
    if (elapsed >= minutes * 60_000) break;
    await new Promise((res) => setTimeout(res, Math.min(sampleS * 1000, minutes * 60_000 - elapsed + 50)));
  }
  const { a: sa, b: sb, relay } = end!;
  const base = samples.find((s) => s.t >= warmupMs) ?? samples.at(-1)!;
  const after = samples.filter((s) => s.t >= base.t);
  const maxRss = Math.max(...after.map((s) => s.rssMb));
  const growth = (maxRss - base.rssMb) / base.rssMb;
  const stalls = [...sa.stalls.map((s) => ({ ...s, page: 'A' })), ...sb.stalls.map((s) => ({ ...s, page: 'B' }))];
  console.log(`\nrelay: ${relay.stats.dataPath.kind} data path; ${relay.stats.relayed.clientToPeer.packets + relay.stats.relayed.peerToClient.packets} packets relayed; dropped ${JSON.stringify(relay.stats.dropped)}; internal errors ${relay.stats.internalErrors}`);
  console.log(`frames decoded: A ${sa.frames}, B ${sb.frames}; largest gap between decoded frames: A ${sa.maxGapMs} ms, B ${sb.maxGapMs} ms; Chromium freezes: A ${sa.freezeCount} (${sa.totalFreezesDurationS.toFixed(1)} s), B ${sb.freezeCount} (${sb.totalFreezesDurationS.toFixed(1)} s)`);
  for (const s of stalls) console.log(`  stall on ${s.page}: ${s.ms} ms at ${s.at}`);
  console.log(`relay RSS: ${base.rssMb.toFixed(1)} MB after the warm-up (${(base.t / 60_000).toFixed(1)} min), largest since ${maxRss.toFixed(1)} MB, at the end ${samples.at(-1)!.rssMb.toFixed(1)} MB: ${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %`);
  const stallOk = stalls.length === 0 && sa.sinceLastFrameMs <= STALL_MS && sb.sinceLastFrameMs <= STALL_MS;
  console.log(`\ngoals: no frame stall over 1 s ${stallOk ? 'met' : 'NOT met'}; relay RSS flat within 10 % ${growth <= 0.1 ? 'met' : 'NOT met'}`);
}

main().then(
  async () => {
    await Promise.allSettled(cleanups.map((c) => c()));
    process.exit(0);
  },
  async (err: unknown) => {
    console.error(`bench:soak failed: ${(err as Error).stack ?? String(err)}`);
    await Promise.allSettled(cleanups.map((c) => c()));
    process.exit(1);
  },
);
