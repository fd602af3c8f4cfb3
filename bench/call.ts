/// <reference lib="dom" />
/**
 * Benchmark (not a test): call setup time of the real call page against its lower bound.
 *
 * - Real: the server (`node dist/server/main.js`, HTTPS on loopback, started here), two headless
 *   Chromium processes (fake camera/microphone). A opens the page and joins; B opens the page and
 *   stays on the pre-join check until its camera and microphone are open (plus {@link PREJOIN_MS},
 *   as a person looks at the preview); the clock starts at B's Join click (a capture-phase click
 *   listener in B's page) and stops at the first decoded remote video frame (`inbound-rtp`
 *   `framesDecoded > 0`, polled every 10 ms in the page), on B (the joiner sees the other person)
 *   and on A.
 * - Where the time goes: both pages record a timeline (signaling events sent and received over
 *   the WebSocket, peer connection steps and states, DTLS transport states) on the same clock;
 *   the median time of each step after the click is printed.
 * - Lower bounds: in one page, two `RTCPeerConnection`s exchanging offer, answer and candidates
 *   directly (no server, no network round trip), to the first decoded frame on the receiving
 *   connection: from the start of `getUserMedia` (as before), and with the media already open
 *   (comparable to the real call with the pre-join check done).
 * Median of `--runs` (default 5) each; prints the ratio real / lower bound.
 *
 * Run: `npm run bench:call -- [--runs 5] [--turn]` (builds server and client first; `--turn`
 * starts the embedded relay too, so the page also gathers relay candidates). Needs
 * /usr/bin/chromium (CHROMIUM_PATH overrides). Everything on loopback; bounded by `--max-minutes`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { Page } from 'playwright-core';
import { launchPeer } from '../test/helpers/browser.js';
import { freeTcpPort } from '../test/helpers/ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Time B spends on the pre-join check after its media is open, before pressing Join, ms. */
const PREJOIN_MS = 500;

/**
 * Page-side timeline (init script): `window.__timeline` gets `[ms since epoch, step]` for
 * Socket.IO events in and out (engine.io `42[...]` frames over the WebSocket; relayed `message`s
 * by their `type`), peer connection methods and states, and DTLS transport states.
 */
const TIMELINE = `(() => {
  const T = (window.__timeline = []);
  const mark = (what) => T.push([performance.timeOrigin + performance.now(), what]);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) (window.__longTasks = window.__longTasks || []).push([performance.timeOrigin + e.startTime, e.duration]);
    }).observe({ type: 'longtask' });
  } catch {}
  const frame = (dir, data) => {
    if (typeof data !== 'string' || !data.startsWith('42')) return;
    try {
      const ev = JSON.parse(data.slice(data.indexOf('[')));
      const type = ev[0] === 'message' ? (typeof ev[2] === 'object' && ev[2] ? ev[2].type : String(ev[2])) : '';
      mark(dir + ' ' + ev[0] + (type ? ' ' + type : ''));
    } catch {}
  };
  const WS = window.WebSocket;
  const send = WS.prototype.send;
  WS.prototype.send = function (data) { frame('sent', data); return send.call(this, data); };
  window.WebSocket = function (...args) {
    const ws = new WS(...args);
    mark('websocket opening');
    ws.addEventListener('open', () => mark('websocket open'));
    ws.addEventListener('message', (e) => frame('got', e.data));
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.setPrototypeOf(window.WebSocket, WS);
  const PC = window.RTCPeerConnection;
  for (const m of ['createOffer', 'createAnswer', 'setLocalDescription', 'setRemoteDescription']) {
    const orig = PC.prototype[m];
    PC.prototype[m] = function (...a) {
      const p = orig.apply(this, a);
      const kind = m.startsWith('set') ? ' ' + ((a[0] && a[0].type) || 'auto') : '';
      p.then(() => mark(m + kind + ' done'), () => {});
      return p;
    };
  }
  window.RTCPeerConnection = function (...args) {
    const pc = new PC(...args);
    mark('pc created');
    const hooked = new Set();
    const hookDtls = () => {
      for (const t of [...pc.getSenders(), ...pc.getReceivers()].map((x) => x.transport).filter(Boolean)) {
        if (hooked.has(t)) continue;
        hooked.add(t);
        t.addEventListener('statechange', () => mark('dtls ' + t.state));
      }
    };
    pc.addEventListener('signalingstatechange', () => { mark('signaling ' + pc.signalingState); hookDtls(); });
    pc.addEventListener('iceconnectionstatechange', () => mark('ice ' + pc.iceConnectionState));
    pc.addEventListener('connectionstatechange', () => mark('pc ' + pc.connectionState));
    let cand = false;
    pc.addEventListener('icecandidate', (e) => { if (e.candidate && !cand) { cand = true; mark('first local candidate'); } });
    pc.addEventListener('track', (e) => mark('track ' + e.track.kind));
    return pc;
  };
  window.RTCPeerConnection.prototype = PC.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, PC);
})();`;
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

/** Start polling (every 10 ms) for the first decoded remote video frame; resolves with the time then (ms since epoch). */
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
          if (done) return resolve(performance.timeOrigin + performance.now());
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

/** One side's timeline: step → ms after B's Join click (first occurrence). */
type Steps = Map<string, number>;

async function timeline(page: Page, since: number, until: number, prefix: string): Promise<Steps> {
  const { marks, longTasks } = await page.evaluate(() => {
    const w = window as unknown as { __timeline?: [number, string][]; __longTasks?: [number, number][] };
    return { marks: w.__timeline ?? [], longTasks: w.__longTasks ?? [] };
  });
  const out: Steps = new Map();
  for (const [t, what] of marks) if (t >= since - 1 && !out.has(`${prefix} ${what}`)) out.set(`${prefix} ${what}`, t - since);
  // Main-thread time lost to long tasks (> 50 ms each) between the click and the first frame.
  let blocked = 0;
  for (const [start, duration] of longTasks) blocked += Math.max(0, Math.min(start + duration, until) - Math.max(start, since));
  out.set(`${prefix} main thread in long tasks until its first frame (ms, total)`, blocked);
  return out;
}

/** One real call; returns ms to B's and A's first frame from B's Join click, and the steps of both pages. */
async function realCall(url: string, a: Page, b: Page, room: string): Promise<{ b: number; a: number; steps: Steps }> {
  await a.goto(`${url}/?room=${room}`);
  await a.click('#join');
  await waitStatus(a, /waiting for the other person/i);
  await armFirstFrame(a);
  await b.goto(`${url}/?room=${room}`);
  await b.waitForSelector('#join:not([disabled])');
  // The pre-join check: the camera and microphone are open (pages without one open them at Join).
  await b.waitForFunction(
    () => !document.getElementById('preview') || (window as unknown as { __call?: { media?: { acquired?: boolean } } }).__call?.media?.acquired === true,
  );
  await b.waitForTimeout(PREJOIN_MS);
  await armFirstFrame(b);
  await b.evaluate(() => {
    document.querySelector('#join')!.addEventListener('click', () => ((window as unknown as { __clickAt: number }).__clickAt = performance.timeOrigin + performance.now()), { capture: true, once: true });
  });
  await b.click('#join');
  const [fb, fa] = await Promise.all([firstFrameAt(b), firstFrameAt(a)]);
  const clickAt = await b.evaluate(() => (window as unknown as { __clickAt: number }).__clickAt);
  const steps = new Map([...(await timeline(b, clickAt, fb, 'B')), ...(await timeline(a, clickAt, fa, 'A'))]);
  steps.set('B first decoded frame', fb - clickAt);
  steps.set('A first decoded frame', fa - clickAt);
  return { b: fb - clickAt, a: fa - clickAt, steps };
}

/**
 * Lower bound: two peer connections in one page exchanging descriptions directly, to the first
 * decoded frame; from the start of getUserMedia, or (`mediaOpen`) with the media opened before.
 */
async function directCall(page: Page, mediaOpen = false): Promise<number> {
  return page.evaluate(async (open) => {
    const early = open ? await navigator.mediaDevices.getUserMedia({ audio: true, video: true }) : null;
    if (early) await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const stream = early ?? (await navigator.mediaDevices.getUserMedia({ audio: true, video: true }));
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
  }, mediaOpen);
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
  await Promise.all([a.context.addInitScript(TIMELINE), b.context.addInitScript(TIMELINE)]);
  try {
    console.log(`bench:call — ${runs} calls, server ${server.url} (TURN relay ${opts.turn ? 'on' : 'off'}), two headless Chromium processes on one shared 2-core machine`);
    console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    // Warm-up (first page load compiles the bundle, first getUserMedia starts the fake devices).
    await realCall(server.url, a.page, b.page, String(900_000_000));
    await directCall(b.page);
    const real: number[] = [];
    const realA: number[] = [];
    const steps: Steps[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await realCall(server.url, a.page, b.page, String(900_000_001 + i));
      real.push(r.b);
      realA.push(r.a);
      steps.push(r.steps);
      console.log(`  real call ${i + 1}: first remote frame on the joiner after ${r.b.toFixed(0)} ms (on the first person after ${r.a.toFixed(0)} ms)`);
    }
    // Lower bounds in a fresh page from the same origin (secure context, same browser).
    await b.page.goto(`${server.url}/trickle-ice.html`);
    const direct: number[] = [];
    const directOpen: number[] = [];
    for (let i = 0; i < runs; i++) {
      const ms = await directCall(b.page);
      const msOpen = await directCall(b.page, true);
      direct.push(ms);
      directOpen.push(msOpen);
      console.log(`  direct (lower bound) ${i + 1}: ${ms.toFixed(0)} ms from getUserMedia, ${msOpen.toFixed(0)} ms with the media already open`);
    }
    // Where the time goes: median of each step over the runs that have it, in time order.
    const names = new Set(steps.flatMap((m) => [...m.keys()]));
    const all = [...names].map((n) => ({ n, ms: median(steps.flatMap((m) => (m.has(n) ? [m.get(n)!] : []))), runs: steps.filter((m) => m.has(n)).length }));
    const rows = all.filter((r) => r.ms >= -1 && !r.n.includes('long tasks')).sort((x, y) => x.ms - y.ms);
    console.log(`\nsteps after B's Join click (median ms; A = the first person, B = the joiner; runs with the step):`);
    for (const r of rows) console.log(`  ${r.ms.toFixed(1).padStart(7)}  ${r.n}${r.runs < runs ? ` (${r.runs}/${runs})` : ''}`);
    for (const r of all.filter((x) => x.n.includes('long tasks'))) console.log(`  ${r.n}: median ${r.ms.toFixed(0)}`);
    const mr = median(real);
    const md = median(direct);
    const mo = median(directOpen);
    console.log(`\nmedian Join click → first decoded remote frame: ${mr.toFixed(0)} ms (joiner), ${median(realA).toFixed(0)} ms (first person)`);
    console.log(`median lower bound (two peer connections in one page, no server): ${md.toFixed(0)} ms from getUserMedia, ${mo.toFixed(0)} ms with the media open`);
    console.log(`ratio real / lower bound: ${(mr / md).toFixed(2)} (from getUserMedia), ${(mr / mo).toFixed(2)} (media open)`);
    console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
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
