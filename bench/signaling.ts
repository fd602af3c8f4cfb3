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
 * load and RSS.
 *
 * Run: `npm run bench:signaling -- [--rooms 1000,5000,10000] [--redis] [--duration 20]
 *      [--interval 30] [--candidates 5] [--clients 2] [--batch 250] [--server-node-args "--cpu-prof"]`
 * Also printed: the event-loop delay (p99/max) of the server(s) (from its /metrics) and of the
 * load generators, to tell a slow server from a saturated load generator.
 * Everything runs on loopback; each phase is bounded in time, the whole run by `--max-minutes`.
 * Goal: 10 000 rooms (20 000 sockets) on one node with p99 < 100 ms. The load generators run on
 * the same machine and compete with the server for the CPU: read the figures with that in mind.
 * No server limit needs a bench-only override: the per-socket token bucket (200 burst, 100/s) is
 * far above the 2 × (1 + candidates) events per interval a bench socket sends; only the fd limit
 * is raised (`ulimit -n 65536` for the server and the clients; needs root or a high hard limit).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { freeTcpPort } from '../test/helpers/ports.js';
import { cpuSeconds, rssMb as rssOf } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER_MAIN = path.resolve(here, '../server/main.js');
const CLIENT_MAIN = path.resolve(here, 'signaling-client.js');
const FD_LIMIT = 65536;

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
  .option('--server-node-args <args>', 'extra node arguments for the server process(es), e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"', '')
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
}>();

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
function killAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));
setTimeout(() => {
  console.error(`bench:signaling: --max-minutes ${opts.maxMinutes} reached; stopping`);
  process.exit(2);
}, Number(opts.maxMinutes) * 60_000).unref();

/** Spawn `cmd` with the fd limit raised (through sh: `ulimit -n`). */
function spawnWithFds(cmd: string[], env: NodeJS.ProcessEnv, ipc = false): ChildProcess {
  const line = `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${cmd.map((c) => `'${c.replace(/'/g, `'\\''`)}'`).join(' ')}`;
  const child = spawn('sh', ['-c', line], { env, stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function get(url: string): Promise<number> {
  return getText(url).then((r) => r.status);
}

function getText(url: string, timeoutMs = 1000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * The server's event-loop delay since the previous scrape, ms (prom-client resets its histogram
 * at each scrape of /metrics): [p99, max].
 */
async function serverLoopLag(url: string): Promise<[number, number]> {
  const { body } = await getText(`${url}/metrics`, 10_000);
  const v = (name: string) => Number(new RegExp(`^webrtc_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(body)?.[1] ?? NaN) * 1000;
  return [v('p99'), v('max')];
}

interface Node {
  url: string;
  proc: ChildProcess;
  dir: string;
  output: () => string;
}

async function startNode(extraEnv: Record<string, string>): Promise<Node> {
  const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-bench-'));
  tempDirs.add(dir);
  const port = await freeTcpPort();
  const env = {
    PATH: process.env.PATH,
    HTTPS_HOST: '127.0.0.1',
    HTTPS_PORT: String(port),
    TURN_ENABLED: 'false',
    CERTS_DIR: path.join(dir, 'certs'),
    DATA_DIR: path.join(dir, 'data'),
    LOG_DIR: path.join(dir, 'logs'),
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const proc = spawnWithFds([process.execPath, ...opts.serverNodeArgs.split(' ').filter(Boolean), SERVER_MAIN], env);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
    if (opts.serverOutput) appendFileSync(opts.serverOutput, d);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await get(`${url}/readyz`)) !== 200) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, proc, dir, output: () => out };
}

async function stopNode(n: Node): Promise<void> {
  if (n.proc.exitCode === null) {
    n.proc.kill('SIGTERM');
    const t = setTimeout(() => n.proc.kill('SIGKILL'), 10_000);
    await new Promise((r) => n.proc.once('exit', r));
    clearTimeout(t);
  }
  rmSync(n.dir, { recursive: true, force: true });
  tempDirs.delete(n.dir);
}

async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freeTcpPort();
  const proc = spawnWithFds(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '1000'], { PATH: process.env.PATH });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.write('PING\r\n');
        s.once('data', (d) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `redis://127.0.0.1:${port}`, proc };
}

type ClientMsg =
  | { type: 'ready'; ms: number; failed: number; firstError: string }
  | { type: 'result'; latencies: number[]; sent: number; received: number; errors: number; loopP99: number; loopMax: number };

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
  cpu: string;
  rss: string;
  /** CPU of the load-generator processes during the load (% of one core each). */
  clientCpu: string;
  /** Event-loop delay p99/max, ms: server(s), then the load generators (worst). */
  loop: string;
}

async function runOnce(rooms: number): Promise<Row> {
  const redis = opts.redis ? await startRedis() : undefined;
  const clusterEnv: Record<string, string> = redis ? { REDIS_URL: redis.url, REDIS_PREFIX: `bench-${Date.now()}` } : {};
  const nodes = await Promise.all((redis ? [1, 2] : [1]).map(() => startNode(clusterEnv)));
  const urlA = nodes[0]!.url;
  const urlB = (nodes[1] ?? nodes[0])!.url;
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

    const durationMs = Number(opts.duration) * 1000;
    await Promise.all(nodes.map((n) => serverLoopLag(n.url))); // reset the server's histogram
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
    const serverLag = await Promise.all(nodes.map((n) => serverLoopLag(n.url)));
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
      cpu: cpu.map((c) => `${(c * 100).toFixed(0)}%`).join(' + ') + (redis ? ` (redis ${(redisCpu * 100).toFixed(0)}%)` : ''),
      rss: rss.map(({ now, peak }) => `${now.toFixed(0)}/${peak.toFixed(0)}`).join(' + '),
      clientCpu: clientCpu.map((c) => `${(c * 100).toFixed(0)}%`).join(' + '),
      loop: `server ${serverLag.map(([p99, max]) => `${p99.toFixed(0)}/${max.toFixed(0)}`).join(' + ')}, load generators ${Math.max(...res.map((r) => r.loopP99)).toFixed(0)}/${Math.max(...res.map((r) => r.loopMax)).toFixed(0)}`,
    };
  } finally {
    for (const c of clients) if (c.exitCode === null) c.send({ cmd: 'close' });
    await Promise.all(clients.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    for (const n of nodes) await stopNode(n);
    if (redis && redis.proc.exitCode === null) {
      redis.proc.kill('SIGKILL');
      await new Promise((r) => redis.proc.once('exit', r));
    }
  }
}

/** The fd limit a spawned process really gets (raising the hard limit needs CAP_SYS_RESOURCE). */
function effectiveFdLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); ulimit -n`], { encoding: 'utf8' }).trim());
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const counts = opts.rooms.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
  const fds = effectiveFdLimit();
  const perNode = (rooms: number) => (opts.redis ? rooms : rooms * 2);
  if (counts.some((r) => perNode(r) > fds - 50)) {
    console.log(
      `NOTE: open-file limit here is ${fds} (ulimit -n ${FD_LIMIT} refused: the hard limit cannot be raised without CAP_SYS_RESOURCE); a node holds at most ~${fds - 50} sockets, so larger runs see refused connections (EMFILE) and a server that cannot accept its /metrics scrape.`,
    );
  }
  console.log(
    `bench:signaling — ${opts.redis ? 'TWO nodes on Redis (peer A on node 1, peer B on node 2)' : 'one node'}; each room: offer + answer + ${opts.candidates}+${opts.candidates} candidates every ${opts.interval} s; ${opts.duration} s measured; ${opts.clients} load-generator process(es) on the same machine`,
  );
  const rows: Row[] = [];
  for (const rooms of counts) {
    console.log(`\n${rooms} rooms (${rooms * 2} sockets):`);
    const row = await runOnce(rooms);
    rows.push(row);
    console.log(
      `  relay latency p50 ${row.p50.toFixed(1)} ms, p90 ${row.p90.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, max ${row.max.toFixed(0)} ms; ${row.msgsPerS.toFixed(0)} msg/s relayed; lost ${row.lost}; server CPU ${row.cpu}; load generators CPU ${row.clientCpu}; RSS now/peak ${row.rss} MB; event-loop delay p99/max ms: ${row.loop}`,
    );
  }
  console.log('\nrooms  sockets  setup s  p50 ms  p99 ms  max ms  msg/s    lost  server CPU            RSS now/peak MB');
  for (const r of rows) {
    console.log(
      `${String(r.rooms).padEnd(6)} ${String(r.sockets).padEnd(8)} ${r.setupS.toFixed(1).padEnd(8)} ${r.p50.toFixed(1).padEnd(7)} ${r.p99.toFixed(1).padEnd(7)} ${r.max.toFixed(0).padEnd(7)} ${r.msgsPerS.toFixed(0).padEnd(8)} ${String(r.lost).padEnd(5)} ${r.cpu.padEnd(21)} ${r.rss}`,
    );
  }
  const big = rows.find((r) => r.rooms >= 10_000);
  if (big && !opts.redis) console.log(`\ngoal (10 000 rooms on one node, p99 < 100 ms): ${big.p99 < 100 && big.failed === 0 ? 'MET' : 'NOT MET'} (p99 ${big.p99.toFixed(1)} ms)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench:signaling failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
