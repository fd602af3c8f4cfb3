/// <reference lib="dom" />
/**
 * Benchmark (not a test): call setup time of the real call page against its lower bound.
 *
 * - Real: the server (`node dist/server/main.js`, HTTPS on loopback, started here), two headless
 *   Chromium processes (fake camera/microphone). A opens the page and joins; B opens the page;
 *   the clock starts at B's Join click (a capture-phase click listener in B's page) and stops at
 *   the first decoded remote video frame (`inbound-rtp` `framesDecoded > 0`, polled every 10 ms
 *   in the page), on B (the joiner sees the other person) and on A.
 * - Lower bound: in one page, `getUserMedia` + two `RTCPeerConnection`s exchanging offer, answer
 *   and candidates directly (no server, no network round trip), from the start of getUserMedia to
 *   the first decoded frame on the receiving connection.
 * Median of `--runs` (default 5) each; prints the ratio real / lower bound.
 *
 * Run: `npm run bench:call -- [--runs 5] [--turn]` (builds server and client first; `--turn`
 * starts the embedded relay too, so the page also gathers relay candidates). Needs
 * /usr/bin/chromium (CHROMIUM_PATH overrides). Everything on loopback; bounded by `--max-minutes`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { Page } from 'playwright-core';
import { launchPeer } from '../test/helpers/browser.js';
import { freeTcpPort } from '../test/helpers/ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER_MAIN = path.resolve(here, '../server/main.js');

const opts = new Command()
  .name('bench:call')
  .option('--runs <n>', 'calls measured (median reported)', '5')
  .option('--turn', 'start the embedded TURN relay as well', false)
  .option('--max-minutes <n>', 'hard limit for the whole run', '8')
  .parse()
  .opts<{ runs: string; turn: boolean; maxMinutes: string }>();

const cleanups: Array<() => Promise<void> | void> = [];
setTimeout(() => {
  console.error(`bench:call: --max-minutes ${opts.maxMinutes} reached; stopping`);
  void Promise.allSettled(cleanups.map((c) => c())).then(() => process.exit(2));
}, Number(opts.maxMinutes) * 60_000).unref();

function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function startServer(): Promise<{ url: string; proc: ChildProcess; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-bench-'));
  const port = await freeTcpPort();
  const min = 20000 + Math.floor(Math.random() * 100) * 200;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HTTPS_HOST: '127.0.0.1',
    HTTPS_PORT: String(port),
    TURN_ENABLED: opts.turn ? 'true' : 'false',
    TURN_LISTEN: '127.0.0.1',
    TURN_PORT: String(await freeTcpPort()),
    TURN_TLS_PORT: String(await freeTcpPort()),
    TURN_MIN_PORT: String(min),
    TURN_MAX_PORT: String(min + 199),
    TURN_ALLOWED_PEERS: '127.0.0.0/8',
    CERTS_DIR: path.join(dir, 'certs'),
    DATA_DIR: path.join(dir, 'data'),
    LOG_DIR: path.join(dir, 'logs'),
    LOG_LEVEL: 'warn',
  };
  const proc = spawn(process.execPath, [SERVER_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await get(`${url}/readyz`)) !== 200) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, proc, dir };
}

/** Start polling (every 10 ms) for the first decoded remote video frame; resolves with Date.now() then. */
async function armFirstFrame(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __pcs?: RTCPeerConnection[]; __firstFrame?: Promise<number> };
    w.__firstFrame = new Promise<number>((resolve) => {
      const tick = async () => {
        for (const pc of w.__pcs ?? []) {
          const stats = await pc.getStats();
          let done = false;
          stats.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
            if (s.type === 'inbound-rtp' && s.kind === 'video' && (s.framesDecoded ?? 0) > 0) done = true;
          });
          if (done) return resolve(Date.now());
        }
        setTimeout(tick, 10);
      };
      void tick();
    });
  });
}

async function firstFrameAt(page: Page, timeoutMs = 30_000): Promise<number> {
  return page.evaluate(
    (ms) =>
      Promise.race([
        (window as unknown as { __firstFrame: Promise<number> }).__firstFrame,
        new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`no decoded remote frame within ${ms} ms`)), ms)),
      ]),
    timeoutMs,
  );
}

async function waitStatus(page: Page, re: RegExp, timeoutMs = 20_000): Promise<void> {
  await page.waitForFunction(([src, flags]) => new RegExp(src!, flags).test(document.querySelector('#status')?.textContent ?? ''), [re.source, re.flags], {
    timeout: timeoutMs,
    polling: 50,
  });
}

/** One real call; returns [ms to B's first frame, ms to A's first frame] from B's Join click. */
async function realCall(url: string, a: Page, b: Page, room: string): Promise<[number, number]> {
  await a.goto(`${url}/?room=${room}`);
  await a.click('#join');
  await waitStatus(a, /waiting for the other person/i);
  await armFirstFrame(a);
  await b.goto(`${url}/?room=${room}`);
  await b.waitForSelector('#join:not([disabled])');
  await armFirstFrame(b);
  await b.evaluate(() => {
    document.querySelector('#join')!.addEventListener('click', () => ((window as unknown as { __clickAt: number }).__clickAt = Date.now()), { capture: true, once: true });
  });
  await b.click('#join');
  const [fb, fa] = await Promise.all([firstFrameAt(b), firstFrameAt(a)]);
  const clickAt = await b.evaluate(() => (window as unknown as { __clickAt: number }).__clickAt);
  return [fb - clickAt, fa - clickAt];
}

/** Lower bound: getUserMedia + two peer connections in one page exchanging descriptions directly. */
async function directCall(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const t0 = performance.now();
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const pc1 = new RTCPeerConnection();
    const pc2 = new RTCPeerConnection();
    pc1.onicecandidate = (e) => void (e.candidate && pc2.addIceCandidate(e.candidate));
    pc2.onicecandidate = (e) => void (e.candidate && pc1.addIceCandidate(e.candidate));
    for (const t of stream.getTracks()) pc1.addTrack(t, stream);
    await pc1.setLocalDescription();
    await pc2.setRemoteDescription(pc1.localDescription!);
    await pc2.setLocalDescription();
    await pc1.setRemoteDescription(pc2.localDescription!);
    const deadline = t0 + 30_000;
    for (;;) {
      let decoded = 0;
      (await pc2.getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') decoded += s.framesDecoded ?? 0;
      });
      if (decoded > 0) break;
      if (performance.now() > deadline) throw new Error('direct call: no decoded frame within 30 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = performance.now() - t0;
    pc1.close();
    pc2.close();
    for (const t of stream.getTracks()) t.stop();
    return ms;
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const runs = Math.max(1, Number(opts.runs));
  const server = await startServer();
  cleanups.push(() => {
    server.proc.kill('SIGKILL');
    rmSync(server.dir, { recursive: true, force: true });
  });
  const [a, b] = await Promise.all([launchPeer({ captureConsole: false }), launchPeer({ captureConsole: false })]);
  cleanups.push(a.close, b.close);
  try {
    console.log(`bench:call — ${runs} calls, server ${server.url} (TURN relay ${opts.turn ? 'on' : 'off'}), two headless Chromium processes on one shared 2-core machine`);
    // Warm-up (first page load compiles the bundle, first getUserMedia starts the fake devices).
    await realCall(server.url, a.page, b.page, String(900_000_000));
    await directCall(b.page);
    const real: number[] = [];
    const realA: number[] = [];
    for (let i = 0; i < runs; i++) {
      const [tb, ta] = await realCall(server.url, a.page, b.page, String(900_000_001 + i));
      real.push(tb);
      realA.push(ta);
      console.log(`  real call ${i + 1}: first remote frame on the joiner after ${tb.toFixed(0)} ms (on the first person after ${ta.toFixed(0)} ms)`);
    }
    // Lower bound in a fresh page from the same origin (secure context, same browser).
    await b.page.goto(`${server.url}/`);
    const direct: number[] = [];
    for (let i = 0; i < runs; i++) {
      const ms = await directCall(b.page);
      direct.push(ms);
      console.log(`  direct (lower bound) ${i + 1}: ${ms.toFixed(0)} ms`);
    }
    const mr = median(real);
    const md = median(direct);
    console.log(`\nmedian Join click → first decoded remote frame: ${mr.toFixed(0)} ms (joiner), ${median(realA).toFixed(0)} ms (first person)`);
    console.log(`median lower bound (two peer connections in one page, no server): ${md.toFixed(0)} ms`);
    console.log(`ratio real / lower bound: ${(mr / md).toFixed(2)}`);
  } finally {
    await Promise.allSettled(cleanups.map((c) => c()));
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(`bench:call failed: ${(err as Error).stack ?? err}`);
    await Promise.allSettled(cleanups.map((c) => c()));
    process.exit(1);
  },
);
