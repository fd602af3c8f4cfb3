/// <reference lib="dom" />
/**
 * Benchmark (not a test): file-transfer throughput of the call page on loopback.
 *
 * - Real: the server (started here, as `npm start` runs it), two headless Chromium processes in a
 *   call (fake camera and microphone, so video is encoded and decoded meanwhile). A chooses a file
 *   of `--mb` MB of random bytes with `#fileInput`; B accepts; the clock runs from B's Accept click
 *   to B's row turning `done` (all bytes received, SHA-256 checked). Throughput = size / time.
 * - Ceiling: in one page, two `RTCPeerConnection`s joined directly and one data channel sending the
 *   same number of bytes in 64 KiB messages with the same backpressure: what this browser's SCTP
 *   stack carries on this machine, without media, hashing or storage.
 * Median of `--runs` (default 3); MB = 10^6 bytes. The machine's load average is printed, since
 * other processes share the cores.
 *
 * Run: `npm run bench:files -- [--mb 100] [--runs 3] [--camera-off]` (builds first). Needs /usr/bin/chromium
 * (CHROMIUM_PATH overrides). Loopback only; bounded by `--max-minutes`.
 */
import { loadavg } from 'node:os';
import { Command } from 'commander';
import type { Page } from 'playwright-core';
import { connectedPair } from '../test/browser/call-helpers.js';
import { chooseRandomFile, transferRows } from '../test/browser/extras-helpers.js';
import { launchPeer, type Peer } from '../test/helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../test/helpers/server.js';

const opts = new Command()
  .name('bench:files')
  .option('--mb <n>', 'file size, MB (10^6 bytes)', '100')
  .option('--runs <n>', 'transfers measured (median reported)', '3')
  .option('--camera-off', 'both people turn their camera off first (no video encoded or decoded)', false)
  .option('--max-minutes <n>', 'hard limit for the whole run', '8')
  .parse()
  .opts<{ mb: string; runs: string; cameraOff: boolean; maxMinutes: string }>();

const bytes = Math.round(Number(opts.mb) * 1e6);
const runs = Math.max(1, Number(opts.runs));
const peers: Peer[] = [];
let server: RunningServer | undefined;

async function cleanup(): Promise<void> {
  await Promise.allSettled(peers.splice(0).map((p) => p.close()));
  if (server) {
    await server.stop().catch(() => undefined);
    removeServerDirs(server);
    server = undefined;
  }
}

setTimeout(() => {
  console.error(`bench:files: --max-minutes ${opts.maxMinutes} reached; stopping`);
  void cleanup().then(() => process.exit(2));
}, Number(opts.maxMinutes) * 60_000).unref();

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;

/** One transfer A → B through the page; seconds from Accept to done on B. */
async function pageTransfer(a: Page, b: Page, run: number): Promise<number> {
  const sha = await chooseRandomFile(a, bytes, `bench-${run}.bin`);
  const deadline = Date.now() + 60_000;
  while (!(await transferRows(b)).some((r) => r.direction === 'receive' && r.state === 'offered')) {
    if (Date.now() > deadline) throw new Error('no offer on B');
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = await b.evaluate(
    () =>
      new Promise<number>((resolve, reject) => {
        const li = document.querySelector<HTMLElement>('#transfers li[data-direction="receive"][data-state="offered"]')!;
        let t0 = 0;
        new MutationObserver((_r, obs) => {
          if (li.dataset.state === 'done') {
            obs.disconnect();
            resolve((performance.now() - t0) / 1000);
          } else if (li.dataset.state !== 'receiving') {
            obs.disconnect();
            reject(new Error(`transfer ended ${li.dataset.state}`));
          }
        }).observe(li, { attributes: true, attributeFilter: ['data-state'] });
        t0 = performance.now();
        li.querySelector<HTMLButtonElement>('button[data-action="accept"]')!.click();
      }),
  );
  const row = (await transferRows(b)).find((r) => r.direction === 'receive' && r.state === 'done');
  if (row?.sha256 !== sha) throw new Error('received file differs');
  return seconds;
}

/** The ceiling: one page, two connections joined directly, one data channel, same chunking. */
async function rawChannel(page: Page): Promise<number> {
  return page.evaluate(async (total) => {
    const a = new RTCPeerConnection();
    const b = new RTCPeerConnection();
    a.onicecandidate = (e) => void (e.candidate && b.addIceCandidate(e.candidate));
    b.onicecandidate = (e) => void (e.candidate && a.addIceCandidate(e.candidate));
    const dc = a.createDataChannel('raw');
    const got = new Promise<RTCDataChannel>((r) => (b.ondatachannel = (ev) => r(ev.channel)));
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription!);
    const rc = await got;
    rc.binaryType = 'arraybuffer';
    await new Promise<void>((r) => (dc.readyState === 'open' ? r() : (dc.onopen = () => r())));
    const chunk = new Uint8Array(64 * 1024);
    let received = 0;
    const done = new Promise<void>((r) => (rc.onmessage = (ev) => ((received += (ev.data as ArrayBuffer).byteLength) >= total ? r() : undefined)));
    dc.bufferedAmountLowThreshold = 2 << 20;
    const t0 = performance.now();
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      while (dc.bufferedAmount > 8 << 20) await new Promise((r) => (dc.onbufferedamountlow = r));
      dc.send(chunk);
    }
    await done;
    const s = (performance.now() - t0) / 1000;
    a.close();
    b.close();
    return s;
  }, bytes);
}

async function main(): Promise<void> {
  console.log(`bench:files: ${opts.mb} MB, ${runs} runs; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  server = await startServer();
  const { a, b } = await connectedPair(peers, server.url);
  if (opts.cameraOff) await Promise.all([a.page.click('#camera'), b.page.click('#camera')]);
  const page: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = await pageTransfer(a.page, b.page, i);
    page.push(s);
    console.log(`  call page run ${i + 1}: ${s.toFixed(2)} s = ${(bytes / 1e6 / s).toFixed(1)} MB/s`);
  }
  await cleanup();
  const solo = await launchPeer();
  peers.push(solo);
  const raw: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = await rawChannel(solo.page);
    raw.push(s);
    console.log(`  raw data channel run ${i + 1}: ${s.toFixed(2)} s = ${(bytes / 1e6 / s).toFixed(1)} MB/s`);
  }
  await cleanup();
  const mbps = (s: number) => (bytes / 1e6 / s).toFixed(1);
  console.log(`\ncall page, A → B during a ${opts.cameraOff ? 'call with both cameras off' : 'video call'}: median ${mbps(median(page))} MB/s (goal ≥ 20)`);
  console.log(`raw RTCDataChannel in one page (ceiling): median ${mbps(median(raw))} MB/s`);
  console.log(`load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  },
);
