/**
 * Load generator for `bench/signaling.ts` (not run directly): a child process, driven over IPC,
 * holding both peers of a range of rooms (socket.io-client, WebSocket transport only).
 *
 * IPC protocol (parent → child):
 * - `{cmd: 'setup', urlA, urlB, firstRoom, rooms, batch}`: connect 2 × `rooms` sockets (peer A of
 *   each room to `urlA`, peer B to `urlB`) `batch` at a time, A joins, then B joins (waits for
 *   `joined` and A's `otherjoin`). Answers `{type: 'ready', ms, failed}`.
 * - `{cmd: 'run', durationMs, intervalMs, candidates}`: every room repeats a negotiation every
 *   `intervalMs` (random phase): A → offer (≈3 KB SDP), B → answer on receipt, then each side
 *   trickles `candidates` ICE candidates. Each relayed message carries its send time
 *   (`performance.now()`, same process for both peers), so the receiver records the one-way relay
 *   latency in ms. After `durationMs` + 2 s of drain: `{type: 'result', latencies, sent, received,
 *   errors, disconnects, loopP99, loopMax}` (`disconnects`: sockets dropped during the run; this process's event-loop delay, ms: a busy load generator shows
 *   up here, not as server latency).
 * - `{cmd: 'close'}`: disconnect everything and exit.
 */
import { Agent } from 'node:https';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { io as ioClient, type Socket } from 'socket.io-client';

interface Setup {
  cmd: 'setup';
  urlA: string;
  urlB: string;
  firstRoom: number;
  rooms: number;
  batch: number;
}
interface Run {
  cmd: 'run';
  durationMs: number;
  intervalMs: number;
  candidates: number;
}
type Command = Setup | Run | { cmd: 'close' };

interface Pair {
  room: string;
  a: Socket;
  b: Socket;
}

const pairs: Pair[] = [];
let latencies: number[] = [];
let sent = 0;
let received = 0;
let errors = 0;
/** Sockets the server (or a timeout) disconnected before `close`. */
let disconnects = 0;
let closing = false;
let measuring = false;

const SDP_PAD = Array.from({ length: 40 }, (_, i) => `a=x-bench-padding-${i}:${'0123456789abcdef'.repeat(4)}`).join('\r\n');

function sdp(t: number): string {
  return `v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=x-bench-ts:${t.toFixed(3)}\r\n${SDP_PAD}\r\n`;
}

function send(s: Socket, room: string, data: unknown): void {
  sent++;
  s.emit('message', room, data);
}

function candidate(i: number, t: number) {
  return { type: 'candidate', sdpMLineIndex: 0, sdpMid: '0', candidate: `candidate:${i} 1 udp 2122260223 127.0.0.1 ${50000 + i} typ host generation 0`, usernameFragment: t.toFixed(3) };
}

function record(data: unknown): void {
  const now = performance.now();
  let t: number | undefined;
  if (typeof data === 'object' && data !== null) {
    const d = data as { type?: string; sdp?: string; usernameFragment?: string };
    if (d.type === 'candidate' && d.usernameFragment) t = Number(d.usernameFragment);
    else if (d.sdp) {
      const m = /a=x-bench-ts:([\d.]+)/.exec(d.sdp);
      if (m) t = Number(m[1]);
    }
  }
  if (t === undefined || !Number.isFinite(t)) return;
  received++;
  if (measuring) latencies.push(now - t);
}

let candidatesPerSide = 5;

function wire(p: Pair): void {
  p.b.on('message', (_room: string, data: { type?: string }) => {
    record(data);
    if (data?.type === 'offer') {
      send(p.b, p.room, { type: 'answer', sdp: sdp(performance.now()) });
      for (let i = 0; i < candidatesPerSide; i++) send(p.b, p.room, candidate(i, performance.now()));
    }
  });
  p.a.on('message', (_room: string, data: unknown) => record(data));
  for (const s of [p.a, p.b]) {
    s.on('error', () => errors++);
    s.on('disconnect', () => {
      if (!closing) disconnects++;
    });
  }
}

function negotiate(p: Pair): void {
  send(p.a, p.room, { type: 'offer', sdp: sdp(performance.now()) });
  for (let i = 0; i < candidatesPerSide; i++) send(p.a, p.room, candidate(i, performance.now()));
}

/**
 * One HTTPS agent per server: its TLS session cache lets most connections resume a session (as
 * browsers do) instead of a full handshake, so setting up 20 000 sockets costs the server seconds
 * of CPU, not minutes; the measured load after setup does not depend on it.
 */
const agents = new Map<string, Agent>();
const agentFor = (url: string): Agent => {
  let a = agents.get(url);
  if (!a) agents.set(url, (a = new Agent({ rejectUnauthorized: false, maxCachedSessions: 100 })));
  return a;
};

function connect(url: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = ioClient(url, { transports: ['websocket'], rejectUnauthorized: false, forceNew: true, reconnection: false, timeout: 60_000,
      // Typed `string | boolean` by engine.io-client; its Node WebSocket transport passes it to ws as an https.Agent.
      // Plain HTTP (the proxy listener): ws's default agent.
      ...(url.startsWith('https:') ? { agent: agentFor(url) as unknown as string } : {}),
    });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err) => {
      s.close();
      reject(err);
    });
  });
}

function once<T extends unknown[]>(s: Socket, event: string, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    s.once(event, (...args: unknown[]) => {
      clearTimeout(t);
      resolve(args as T);
    });
  });
}

async function setupPair(cfg: Setup, i: number): Promise<Pair> {
  const room = String(cfg.firstRoom + i);
  const [a, b] = await Promise.all([connect(cfg.urlA), connect(cfg.urlB)]);
  const ja = once(a, 'joined');
  a.emit('join', room);
  await ja;
  const other = once(a, 'otherjoin');
  const jb = once(b, 'joined');
  b.emit('join', room);
  await Promise.all([jb, other]);
  return { room, a, b };
}

async function setup(cfg: Setup): Promise<void> {
  const t0 = performance.now();
  let failed = 0;
  let firstError = '';
  for (let i = 0; i < cfg.rooms; i += cfg.batch) {
    const n = Math.min(cfg.batch, cfg.rooms - i);
    const results = await Promise.allSettled(Array.from({ length: n }, (_, k) => setupPair(cfg, i + k)));
    for (const r of results) {
      if (r.status === 'fulfilled') {
        pairs.push(r.value);
        wire(r.value);
      } else {
        failed++;
        firstError ||= String((r.reason as Error)?.message ?? r.reason);
      }
    }
  }
  process.send!({ type: 'ready', ms: performance.now() - t0, failed, firstError });
}

async function run(cfg: Run): Promise<void> {
  candidatesPerSide = cfg.candidates;
  latencies = [];
  sent = 0;
  received = 0;
  measuring = true;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const timers: NodeJS.Timeout[] = [];
  const end = performance.now() + cfg.durationMs;
  for (const p of pairs) {
    const phase = Math.random() * cfg.intervalMs;
    timers.push(
      setTimeout(() => {
        negotiate(p);
        const iv = setInterval(() => {
          if (performance.now() < end) negotiate(p);
        }, cfg.intervalMs);
        timers.push(iv);
      }, phase),
    );
  }
  await new Promise((r) => setTimeout(r, cfg.durationMs));
  for (const t of timers) clearTimeout(t);
  // Drain: messages still in flight count for latency.
  await new Promise((r) => setTimeout(r, 2000));
  measuring = false;
  loop.disable();
  process.send!({ type: 'result', latencies, sent, received, errors, disconnects, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6 });
}

process.on('message', (m: Command) => {
  if (m.cmd === 'setup') void setup(m);
  else if (m.cmd === 'run') void run(m);
  else if (m.cmd === 'close') {
    closing = true;
    for (const p of pairs) {
      p.a.disconnect();
      p.b.disconnect();
    }
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));
