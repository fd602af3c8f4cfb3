/**
 * Benchmark (not a test): signaling relay capacity. For each room count, starts the real server
 * (`node dist/server/main.js`, HTTPS, relay disabled) — or, with `--redis`, a throwaway
 * redis-server and TWO nodes with REDIS_URL, peer A of each room on node 1 and peer B on node 2 —
 * then load-generator processes (`bench/signaling-client.ts`) hold both peers of every room and
 * repeat an offer/answer/candidates exchange in each room every `--interval` seconds (default 30:
 * far more often than real calls, which negotiate at setup and on ICE restarts only; `--interval
 * 10` is a stress test: 12 000 messages/s at 10 000 rooms).
 * Prints: connect+join time, relay latency p50/p90/p99/max (one-way, sender → server → receiver),
 * messages relayed per second, server CPU (utime+stime from /proc, % of one core) during the
 * load, RSS, memory per socket after setup (RSS, V8 heap, external), the event-loop delay
 * (p99/max) of the server(s) (from /metrics) and of the load generators (to tell a slow server
 * from a saturated load generator), and the load average before and after each run (the machine
 * may be shared).
 *
 * Run: `npm run bench:signaling -- [--rooms 1000,5000,10000] [--redis] [--duration 20]
 *      [--interval 30] [--candidates 5] [--clients 2] [--batch 250]
 *      [--server-node-args "--max-semi-space-size=64 --cpu-prof"] [--heap-snapshot /tmp/heap] [--bare] [--plain]`
 * `--plain` has the load generators connect to the plain-HTTP listener for a TLS-terminating reverse
 * proxy (PROXY_HTTP_PORT) instead of HTTPS: what a node behind nginx costs, without TLS.
 * `--bare` runs the same load against plain Socket.IO over the same HTTPS stack
 * (`bench/signaling-bare.ts`): the floor this machine gives any Socket.IO server. `--heap-snapshot`
 * pauses the server for seconds after setup (clients may time out): read only its memory figures.
 * Everything runs on loopback; each phase is bounded in time, the whole run by `--max-minutes`.
 * Goal: 10 000 rooms (20 000 sockets) on one node with p99 < 100 ms. The load generators run on
 * the same machine and compete with the server for the CPU: read the figures with that in mind.
 * No server limit needs a bench-only override: the per-socket token bucket (200 burst, 100/s) is
 * far above the 2 × (1 + candidates) events per interval a bench socket sends; only the fd limit
 * is raised (`ulimit -n 65536` for the server and the clients; needs root or a high hard limit).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { cpuSeconds, rssMb as rssOf } from './proc.js';
import {
  effectiveFdLimit,
  FD_LIMIT,
  heapSnapshot,
  killAll,
  scrape,
  spawnWithFds,
  startNode,
  startRedis,
  stopNode,
  stopRedis,
  type Node,
  type ServerMetrics,
} from './signaling-nodes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Node arguments the server runs with in production (`npm start`, deploy/webrtc-call.service). */
const PRODUCTION_NODE_ARGS = '--max-semi-space-size=64';
const CLIENT_MAIN = path.resolve(here, 'signaling-client.js');

const program = new Command()
  .name('bench:signaling')
  .option('--rooms <list>', 'comma-separated room counts', '1000,5000,10000')
  .option('--redis', 'two nodes sharing a redis-server (peers of a room on different nodes)', false)
  .option('--duration <s>', 'measured load duration per room count, s', '20')
  .option('--interval <s>', 'each room negotiates every this many seconds', '30')
  .option('--candidates <n>', 'ICE candidates each side trickles per negotiation', '5')
  .option('--clients <n>', 'load-generator processes', '2')
  .option('--batch <n>', 'rooms set up concurrently per client process', '250')
  .option('--max-minutes <n>', 'hard limit for the whole run', '20')
  .option('--server-output <file>', 'append the server processes\' stdout/stderr to this file', '')
  .option(
    '--server-node-args <args>',
    'node arguments for the server process(es), replacing the default (what `npm start` and deploy/webrtc-call.service use), e.g. "--max-semi-space-size=64 --cpu-prof --cpu-prof-dir=/tmp/prof"',
    PRODUCTION_NODE_ARGS,
  )
  .option('--bare', 'run the bare Socket.IO reference server (bench/signaling-bare.ts: HTTPS, no validation, seats or limits) instead of the real one', false)
  .option('--plain', 'load generators connect to the plain-HTTP listener for a reverse proxy (PROXY_HTTP_PORT) instead of HTTPS: no TLS on the measured path', false)
  .option('--heap-snapshot <dir>', 'write a heap snapshot of each server into <dir> after setup, before the load (pauses the server for seconds)', '')
  .parse();
const opts = program.opts<{
  rooms: string;
  redis: boolean;
  duration: string;
  interval: string;
  candidates: string;
  clients: string;
  batch: string;
  maxMinutes: string;
  serverNodeArgs: string;
  serverOutput: string;
  heapSnapshot: string;
  bare: boolean;
  plain: boolean;
}>();
if (opts.bare && opts.redis) {
  console.error('bench:signaling: --bare runs one node only (no --redis)');
  process.exit(2);
}

process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));
setTimeout(() => {
  console.error(`bench:signaling: --max-minutes ${opts.maxMinutes} reached; stopping`);
  process.exit(2);
}, Number(opts.maxMinutes) * 60_000).unref();

const nodeArgs = opts.serverNodeArgs.split(' ').filter(Boolean);
if (opts.heapSnapshot) {
  mkdirSync(opts.heapSnapshot, { recursive: true });
  nodeArgs.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${path.resolve(opts.heapSnapshot)}`);
}
/** A profiling server needs time to write its profile when it stops. */
const stopGraceMs = nodeArgs.some((a) => a.startsWith('--cpu-prof') || a.startsWith('--heap-prof')) ? 120_000 : 10_000;

const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

type ClientMsg =
  | { type: 'ready'; ms: number; failed: number; firstError: string }
  | { type: 'result'; latencies: number[]; sent: number; received: number; errors: number; disconnects: number; loopP99: number; loopMax: number };

function nextMessage<T extends ClientMsg['type']>(c: ChildProcess, type: T, timeoutMs: number): Promise<Extract<ClientMsg, { type: T }>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`load generator: no ${type} within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: ClientMsg) => {
      if (m.type !== type) return;
      clearTimeout(t);
      c.off('message', onMsg);
      resolve(m as Extract<ClientMsg, { type: T }>);
    };
    c.on('message', onMsg);
    c.once('exit', (code) => reject(new Error(`load generator exited (${code}) before ${type}`)));
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Row {
  rooms: number;
  sockets: number;
  setupS: number;
  failed: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  msgsPerS: number;
  lost: number;
  /** `error` events the load generators received (refusals: rate-limited, not-a-member, ...). */
  errors: number;
  /** Sockets dropped during the run (ping timeout, server gone...). */
  disconnects: number;
  cpu: string;
  /** Server CPU time per relayed message, µs (all nodes; includes fixed per-socket costs such as pings). */
  cpuPerMsgUs: number;
  rss: string;
  /** Server RSS after setup divided by the sockets it holds, KB (sum over nodes / all sockets). */
  rssPerSocketKb: number;
  /** The same for the RSS growth from the idle server (before any client connected), KB. */
  rssGrowthPerSocketKb: number;
  /** V8 heap used and external memory after setup, per socket, KB. */
  heapPerSocketKb: number;
  externalPerSocketKb: number;
  /** CPU of the load-generator processes during the load (% of one core each). */
  clientCpu: string;
  /** Server event-loop delay during the load, ms (worst node). */
  serverLoopP99: number;
  serverLoopMax: number;
  /** Event-loop delay p99/max, ms: server(s), then the load generators (worst). */
  loop: string;
  /** Load average (1, 5, 15 min) at the start and end of the run. */
  loadBefore: string;
  loadAfter: string;
}

const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const worst = (xs: number[]) => (xs.some((x) => !Number.isFinite(x)) ? NaN : Math.max(...xs));

async function runOnce(rooms: number): Promise<Row> {
  const loadBefore = load();
  const redis = opts.redis ? await startRedis() : undefined;
  const clusterEnv: Record<string, string> = redis ? { REDIS_URL: redis.url, REDIS_PREFIX: `bench-${Date.now()}` } : {};
  const nodes: Node[] = await Promise.all(
    (redis ? [1, 2] : [1]).map(() => startNode({ nodeArgs, outputFile: opts.serverOutput, env: clusterEnv, bare: opts.bare, plain: opts.plain })),
  );
  const idleRss = nodes.map((n) => rssOf(n.proc.pid!).now);
  const urlA = nodes[0]!.clientUrl;
  const urlB = (nodes[1] ?? nodes[0])!.clientUrl;
  const nClients = Math.max(1, Math.min(Number(opts.clients), rooms));
  const clients: ChildProcess[] = [];
  try {
    const per = Math.ceil(rooms / nClients);
    const tSetup = Date.now();
    const cpuSetup0 = nodes.map((n) => cpuSeconds(n.proc.pid!));
    const readies = [];
    for (let i = 0; i < nClients; i++) {
      const c = spawnWithFds([process.execPath, CLIENT_MAIN], { PATH: process.env.PATH }, true);
      clients.push(c);
      const count = Math.min(per, rooms - i * per);
      readies.push(nextMessage(c, 'ready', 600_000));
      c.send({ cmd: 'setup', urlA, urlB, firstRoom: 100_000_000 + i * per, rooms: count, batch: Number(opts.batch) });
    }
    const ready = await Promise.all(readies);
    const setupS = (Date.now() - tSetup) / 1000;
    const setupCpu = nodes.map((n, i) => cpuSeconds(n.proc.pid!) - cpuSetup0[i]!);
    const failed = ready.reduce((a, r) => a + r.failed, 0);
    if (failed) console.log(`  ${failed} room(s) failed to set up: ${ready.find((r) => r.firstError)?.firstError}`);
    console.log(`  ${rooms} rooms set up in ${setupS.toFixed(1)} s (server CPU ${setupCpu.map((c) => `${c.toFixed(1)} s`).join(' + ')})`);

    // Memory with every room set up and no load yet.
    const seated = 2 * (rooms - failed);
    const rssSetup = nodes.map((n) => rssOf(n.proc.pid!).now);
    const mem: ServerMetrics[] = await Promise.all(nodes.map((n) => scrape(n.url)));
    const perSocket = (mb: number) => (mb * 1024) / seated;
    console.log(
      `  after setup: RSS ${rssSetup.map((r) => r.toFixed(0)).join(' + ')} MB (idle ${idleRss.map((r) => r.toFixed(0)).join(' + ')} MB), heap used ${mem.map((m) => fmt(m.heapUsedMb)).join(' + ')} MB, external ${mem.map((m) => fmt(m.externalMb)).join(' + ')} MB`,
    );
    if (opts.heapSnapshot) {
      for (const n of nodes) console.log(`  heap snapshot: ${(await heapSnapshot(n, opts.heapSnapshot)) ?? 'none written'}`);
    }

    const durationMs = Number(opts.duration) * 1000;
    await Promise.all(nodes.map((n) => scrape(n.url))); // reset the server's event-loop histogram
    const cpu0 = nodes.map((n) => cpuSeconds(n.proc.pid!));
    const redisCpu0 = redis ? cpuSeconds(redis.proc.pid!) : 0;
    const clientCpu0 = clients.map((c) => cpuSeconds(c.pid!));
    const t0 = Date.now();
    const results = clients.map((c) => nextMessage(c, 'result', durationMs + 120_000));
    for (const c of clients) c.send({ cmd: 'run', durationMs, intervalMs: Number(opts.interval) * 1000, candidates: Number(opts.candidates) });
    // CPU over the load window only (the clients' 2 s drain is not counted).
    await new Promise((r) => setTimeout(r, durationMs));
    const wall = (Date.now() - t0) / 1000;
    const cpu = nodes.map((n, i) => (cpuSeconds(n.proc.pid!) - cpu0[i]!) / wall);
    const redisCpu = redis ? (cpuSeconds(redis.proc.pid!) - redisCpu0) / wall : 0;
    const clientCpu = clients.map((c, i) => (cpuSeconds(c.pid!) - clientCpu0[i]!) / wall);
    const serverLag = await Promise.all(nodes.map((n) => scrape(n.url)));
    const res = await Promise.all(results);
    const rss = nodes.map((n) => rssOf(n.proc.pid!));
    const all = new Float64Array(res.reduce((a, r) => a + r.latencies.length, 0));
    let k = 0;
    for (const r of res) for (const v of r.latencies) all[k++] = v;
    all.sort();
    const sent = res.reduce((a, r) => a + r.sent, 0);
    const received = res.reduce((a, r) => a + r.received, 0);
    return {
      rooms,
      sockets: rooms * 2,
      setupS,
      failed,
      p50: percentile(all, 50),
      p90: percentile(all, 90),
      p99: percentile(all, 99),
      max: all.length ? all[all.length - 1]! : NaN,
      msgsPerS: received / (durationMs / 1000),
      lost: sent - received,
      errors: res.reduce((a, r) => a + r.errors, 0),
      disconnects: res.reduce((a, r) => a + r.disconnects, 0),
      cpu: cpu.map((c) => `${(c * 100).toFixed(0)}%`).join(' + ') + (redis ? ` (redis ${(redisCpu * 100).toFixed(0)}%)` : ''),
      cpuPerMsgUs: (sum(cpu) * 1e6) / (received / (durationMs / 1000)),
      rss: rss.map(({ now, peak }) => `${now.toFixed(0)}/${peak.toFixed(0)}`).join(' + '),
      rssPerSocketKb: perSocket(sum(rssSetup)),
      rssGrowthPerSocketKb: perSocket(sum(rssSetup) - sum(idleRss)),
      heapPerSocketKb: perSocket(sum(mem.map((m) => m.heapUsedMb))),
      externalPerSocketKb: perSocket(sum(mem.map((m) => m.externalMb))),
      clientCpu: clientCpu.map((c) => `${(c * 100).toFixed(0)}%`).join(' + '),
      serverLoopP99: worst(serverLag.map((l) => l.loopP99)),
      serverLoopMax: worst(serverLag.map((l) => l.loopMax)),
      loop: `server ${serverLag.map((l) => `${fmt(l.loopP99)}/${fmt(l.loopMax)}`).join(' + ')}, load generators ${Math.max(...res.map((r) => r.loopP99)).toFixed(0)}/${Math.max(...res.map((r) => r.loopMax)).toFixed(0)}`,
      loadBefore,
      loadAfter: load(),
    };
  } finally {
    for (const c of clients) if (c.exitCode === null) c.send({ cmd: 'close' });
    await Promise.all(clients.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    for (const n of nodes) await stopNode(n, stopGraceMs);
    if (redis) await stopRedis(redis);
  }
}

async function main(): Promise<void> {
  const counts = opts.rooms.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
  const fds = effectiveFdLimit();
  const perNode = (rooms: number) => (opts.redis ? rooms : rooms * 2);
  if (counts.some((r) => perNode(r) > fds - 50)) {
    console.log(
      `NOTE: open-file limit here is ${fds} (ulimit -n ${FD_LIMIT} refused: the hard limit cannot be raised without CAP_SYS_RESOURCE). Every socket is one fd in the server process, whatever the load generators do, so a node holds at most ~${fds - 50} sockets (${Math.floor((fds - 50) / 2)} rooms on one node); larger runs see refused connections (EMFILE), counted as failed rooms.`,
    );
  }
  console.log(
    `bench:signaling — ${opts.redis ? 'TWO nodes on Redis (peer A on node 1, peer B on node 2)' : opts.bare ? 'BARE Socket.IO reference server (no validation, seats or limits), one node' : 'one node'}, clients over ${opts.plain ? 'PLAIN HTTP (the proxy listener, PROXY_HTTP_PORT)' : 'HTTPS'}; each room: offer + answer + ${opts.candidates}+${opts.candidates} candidates every ${opts.interval} s; ${opts.duration} s measured; ${opts.clients} load-generator process(es) on the same machine${nodeArgs.length ? `; server node args: ${nodeArgs.join(' ')}` : ''}`,
  );
  const rows: Row[] = [];
  for (const rooms of counts) {
    console.log(`\n${rooms} rooms (${rooms * 2} sockets), load average ${load()}:`);
    const row = await runOnce(rooms);
    rows.push(row);
    console.log(
      `  relay latency p50 ${row.p50.toFixed(1)} ms, p90 ${row.p90.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, max ${row.max.toFixed(0)} ms; ${row.msgsPerS.toFixed(0)} msg/s relayed; lost ${row.lost}; refused ${row.errors}; sockets dropped ${row.disconnects}; server CPU ${row.cpu} (${fmt(row.cpuPerMsgUs)} µs per message); load generators CPU ${row.clientCpu}; RSS now/peak ${row.rss} MB; event-loop delay p99/max ms: ${row.loop}`,
    );
    console.log(
      `  per socket after setup: RSS ${fmt(row.rssPerSocketKb, 1)} KB (growth from idle ${fmt(row.rssGrowthPerSocketKb, 1)} KB), V8 heap ${fmt(row.heapPerSocketKb, 1)} KB, external ${fmt(row.externalPerSocketKb, 1)} KB`,
    );
  }
  console.log('\nrooms  failed  setup s  p50 ms  p99 ms  max ms  loop p99/max ms  msg/s  lost  server CPU       CPU µs/msg  RSS KB/socket  load avg before → after');
  for (const r of rows) {
    console.log(
      [
        String(r.rooms).padEnd(6),
        String(r.failed).padEnd(7),
        r.setupS.toFixed(1).padEnd(8),
        r.p50.toFixed(1).padEnd(7),
        r.p99.toFixed(1).padEnd(7),
        r.max.toFixed(0).padEnd(7),
        `${fmt(r.serverLoopP99)}/${fmt(r.serverLoopMax)}`.padEnd(16),
        r.msgsPerS.toFixed(0).padEnd(6),
        String(r.lost).padEnd(5),
        r.cpu.padEnd(16),
        fmt(r.cpuPerMsgUs).padEnd(11),
        fmt(r.rssPerSocketKb, 1).padEnd(14),
        `${r.loadBefore} → ${r.loadAfter}`,
      ].join(' '),
    );
  }
  const big = rows.find((r) => r.rooms >= 9_000);
  if (big && !opts.redis) console.log(`\ngoal (10 000 rooms on one node, p99 < 100 ms): ${big.p99 < 100 && big.failed === 0 && big.rooms >= 10_000 ? 'MET' : 'NOT MET'} at ${big.rooms} rooms (p99 ${big.p99.toFixed(1)} ms, ${big.failed} failed)`);
  if (big && opts.redis) console.log(`\ngoal (10 000 rooms on two nodes + Redis, p99 < 150 ms): ${big.p99 < 150 && big.failed === 0 && big.rooms >= 10_000 ? 'MET' : 'NOT MET'} at ${big.rooms} rooms (p99 ${big.p99.toFixed(1)} ms, ${big.failed} failed)`);
  if (rows.some((r) => Number.isFinite(r.rssPerSocketKb))) {
    console.log(`goal (RSS <= 30 KB per socket): ${rows.filter((r) => r.rooms >= 1000).every((r) => r.rssPerSocketKb <= 30) ? 'MET' : 'NOT MET'}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench:signaling failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
