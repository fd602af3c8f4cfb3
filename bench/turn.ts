/**
 * Benchmark (not a test): our relay on its native data path and on its JavaScript data path against
 * coturn's `turnserver`, on loopback, with the same settings and the same load:
 * `turnutils_uclient -c -m 100 -n 1000 -z 5 -l 1000` (100 clients × 1000 messages of 1000 bytes over
 * channels, echoed by `turnutils_peer`), several rounds (the order of the three rotates per round).
 *
 * Per run: loss; server CPU seconds during the load (utime+stime of every thread, /proc/PID/stat);
 * the CPU ratio to coturn's run of the same round; peak RSS (VmHWM; ours also its private part,
 * without the node executable's shared pages); forwarded packets per CPU-second, counted as
 * coturn's performance log counts them: packets the relay sends out (each message the clients got
 * back went through the relay twice: to the peer and back, so 2 × received; ours also shows its own
 * count); CPU per forwarded packet relative to coturn (comparable when loss differs between runs);
 * CPU per thread (how relaying spreads over the native worker threads); the machine's load.
 *
 * Run: `npm run bench:turn [-- --rounds 5] [--only native,js] [--node-flags "<flags for our relay>"]`
 * (builds first; coturn always runs, as the reference). Needs coturn (`apt-get install coturn`).
 * Goals: median CPU ratio ours (native)/coturn ≤ 1.0 with 0 % loss; peak RSS ≤ 60 MB. The machine
 * is shared: run it when `uptime` is low, and read ratios within one round.
 */
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { TurnStats } from '../contracts/relay.js';
import { hmacKey, relayNodeFlags } from '../turn/index.js';
import { freeTcpPort } from '../test/helpers/ports.js';
import { cpuSeconds, rssMb } from './proc.js';

const REALM = 'bench.test';
const USER = 'alice';
const PASSWORD = 'secret';
const LOAD = ['-c', '-m', '100', '-n', '1000', '-z', '5', '-l', '1000'];

type RelayName = 'native' | 'js' | 'coturn';

interface Run {
  relay: RelayName;
  round: number;
  load1: number;
  lost: number;
  lostPercent: number;
  received: number;
  cpuS: number;
  peakRssMb: number;
  /** Peak private memory (RSS without file-backed pages), ours only, MB. */
  privateMb?: number;
  /** Datagrams the relay sent out (2 × received). */
  packetsOut: number;
  /** Ours: datagrams relayed by its own count (clientToPeer + peerToClient). */
  ownCount?: number;
  /** CPU seconds per thread name during the load. */
  threads: Record<string, number>;
  wallS: number;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => resolve(`${out}${errOut}${err ? `\n[${err.message}]` : ''}`)));
}

function load1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** CPU seconds of each thread of `pid`, summed by thread name (`comm`: node, turn-worker-0, ...). */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = tid === String(pid) ? `main(${comm})` : comm;
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return out;
}

/** Peak private memory so far: VmHWM minus the file-backed part of the current RSS, MB. */
function privateMb(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  return (kb('VmHWM') - kb('RssFile') - kb('RssShmem')) / 1024;
}

function waitForUdpPort(port: number, timeoutMs = 15_000): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (readFileSync('/proc/net/udp', 'utf8').includes(hex)) resolve();
      else if (Date.now() > deadline) reject(new Error(`nothing listening on UDP ${port}`));
      else setTimeout(check, 50);
    };
    check();
  });
}

function stop(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 5000).unref();
  });
}

/** Ask our forked relay for its stats over the relay IPC. */
function relayStats(child: ChildProcess): Promise<TurnStats> {
  return new Promise((resolve, reject) => {
    const id = Math.floor(Math.random() * 1e9);
    const onMessage = (m: { id?: number; type?: string; stats?: TurnStats }) => {
      if (m.id !== id) return;
      child.off('message', onMessage);
      if (m.type === 'stats' && m.stats) resolve(m.stats);
      else reject(new Error(`stats request failed: ${JSON.stringify(m)}`));
    };
    child.on('message', onMessage);
    child.send({ id, type: 'stats' });
    setTimeout(() => reject(new Error('no stats reply')), 5000).unref();
  });
}

interface Env {
  relayMain: string;
  dir: string;
  usersFile: string;
  peerPort: number;
  /** Node flags for our relay instead of relayNodeFlags() (experiments). */
  nodeFlags?: string[];
}

/** Start one relay; resolves once it listens. */
async function startRelay(name: RelayName, env: Env, port: number, range: [number, number]): Promise<ChildProcess> {
  if (name === 'coturn') {
    const args = ['-n', '--listening-ip=127.0.0.1', `--listening-port=${port}`, '--relay-ip=127.0.0.1', `--min-port=${range[0]}`, `--max-port=${range[1]}`];
    args.push('--lt-cred-mech', `--user=${USER}:${PASSWORD}`, `--realm=${REALM}`, '--no-tls', '--no-dtls', '--no-cli', '--allow-loopback-peers', '--log-file=stdout', '--simple-log');
    const p = spawn('turnserver', args, { stdio: 'ignore' });
    await waitForUdpPort(port);
    return p;
  }
  const childEnv = {
    ...process.env,
    TURN_DATA_PATH: name,
    TURN_REALM: REALM,
    TURN_SECRET: 'unused-bench-secret-0123456789abcdef',
    TURN_USERS_FILE: env.usersFile,
    TURN_LISTEN: '127.0.0.1',
    TURN_PORT: String(port),
    TURN_TLS_CERT: '',
    TURN_MIN_PORT: String(range[0]),
    TURN_MAX_PORT: String(range[1]),
    TURN_ALLOWED_PEERS: '127.0.0.0/8',
    TURN_USER_QUOTA: '0',
    TURN_TOTAL_QUOTA: '0',
    TURN_CHANNEL_RANGE: 'rfc5766',
    CERTS_DIR: path.join(env.dir, 'no-certs'),
    DATA_DIR: env.dir,
    LOG_LEVEL: 'warn',
  };
  // Forked like the web server forks it: same flags, IPC for stats.
  const p = fork(env.relayMain, [], { execArgv: env.nodeFlags ?? relayNodeFlags(name), env: childEnv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: { type?: string; message?: string }) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'start-failed') reject(new Error(`${name} relay did not start: ${m.message}`));
      else if (m.type === 'log' && m.message) console.log(`  [${name} relay] ${m.message}`);
    };
    p.on('message', onMessage);
    p.once('exit', (code) => reject(new Error(`${name} relay exited (${code})`)));
  });
  return p;
}

async function measure(name: RelayName, round: number, env: Env, range: [number, number]): Promise<Run> {
  const port = await freeTcpPort();
  const server = await startRelay(name, env, port, range);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const pid = server.pid!;
    const l1 = load1();
    const cpu0 = cpuSeconds(pid);
    const threads0 = threadCpu(pid);
    const t0 = Date.now();
    const out = await run('turnutils_uclient', [...LOAD, '-u', USER, '-w', PASSWORD, '-p', String(port), '-e', '127.0.0.1', '-r', String(env.peerPort), '-X', '-g', '127.0.0.1']);
    const wallS = (Date.now() - t0) / 1000;
    const cpuS = cpuSeconds(pid) - cpu0;
    const threads1 = threadCpu(pid);
    const threads = Object.fromEntries(Object.entries(threads1).map(([k, v]) => [k, v - (threads0[k] ?? 0)]));
    const peakRssMb = rssMb(pid).peak;
    const loss = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(out);
    const totals = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/gm)].at(-1);
    if (!loss || !totals) throw new Error(`${name}: cannot parse turnutils_uclient output:\n${out.slice(-2000)}`);
    const received = Number(totals[2]);
    const r: Run = { relay: name, round, load1: l1, lost: Number(loss[1]), lostPercent: Number(loss[2]), received, cpuS, peakRssMb, packetsOut: 2 * received, threads, wallS };
    if (name !== 'coturn') {
      const s = await relayStats(server);
      if (s.dataPath.kind !== name) throw new Error(`asked for the ${name} data path, the relay runs ${s.dataPath.kind} (${s.dataPath.fallbackReason ?? ''})`);
      r.ownCount = s.relayed.clientToPeer.packets + s.relayed.peerToClient.packets;
      if (process.env.BENCH_DEBUG) console.log(JSON.stringify({ requests: s.requests, dropped: s.dropped, alloc: s.allocations }));
      r.privateMb = privateMb(pid);
    }
    return r;
  } finally {
    await stop(server);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function report(runs: Run[], rounds: number): void {
  const coturnCpu = new Map(runs.filter((r) => r.relay === 'coturn').map((r) => [r.round, r.cpuS]));
  const coturnOut = new Map(runs.filter((r) => r.relay === 'coturn').map((r) => [r.round, r.packetsOut]));
  console.log(`\nturnutils_uclient ${LOAD.join(' ')}: 100 clients × 1000 messages of 1000 bytes over channels, echoed; ${rounds} rounds\n`);
  console.log('round relay   load1  loss          CPU s  ratio  peak RSS MB (private)  pkts out  out/CPU s  own count  wall s  CPU s by thread');
  for (const r of runs) {
    const ratio = r.relay === 'coturn' ? '' : (r.cpuS / coturnCpu.get(r.round)!).toFixed(2);
    const rss = `${r.peakRssMb.toFixed(1)}${r.privateMb !== undefined ? ` (${r.privateMb.toFixed(1)})` : ''}`;
    const threads = Object.entries(r.threads)
      .filter(([, v]) => v >= 0.01)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
    console.log(
      `${String(r.round).padEnd(5)} ${r.relay.padEnd(7)} ${r.load1.toFixed(1).padEnd(6)} ${`${r.lost} (${r.lostPercent}%)`.padEnd(13)} ${r.cpuS.toFixed(2).padEnd(6)} ${ratio.padEnd(6)} ${rss.padEnd(22)} ${String(r.packetsOut).padEnd(9)} ${Math.round(r.packetsOut / r.cpuS).toString().padEnd(10)} ${String(r.ownCount ?? '').padEnd(10)} ${r.wallS.toFixed(1).padEnd(7)} ${threads}`,
    );
  }
  console.log('\nsummary (medians over rounds):');
  for (const name of ['native', 'js', 'coturn'] as const) {
    const mine = runs.filter((r) => r.relay === name);
    if (mine.length === 0) continue;
    const ratios = mine.map((r) => r.cpuS / coturnCpu.get(r.round)!);
    // CPU per forwarded packet relative to coturn's in the same round: comparable even when loss differs.
    const perPacket = mine.map((r) => r.cpuS / r.packetsOut / (coturnCpu.get(r.round)! / coturnOut.get(r.round)!));
    const lossy = mine.filter((r) => r.lost > 0).length;
    console.log(
      `  ${name.padEnd(7)} CPU ${median(mine.map((r) => r.cpuS)).toFixed(2)} s${name === 'coturn' ? '' : `, ratio to coturn ${median(ratios).toFixed(2)} (rounds: ${ratios.map((x) => x.toFixed(2)).join(' ')}), per forwarded packet ${median(perPacket).toFixed(2)}`}; runs with loss ${lossy}/${mine.length}; peak RSS max ${Math.max(...mine.map((r) => r.peakRssMb)).toFixed(1)} MB; pkts out/CPU s ${Math.round(median(mine.map((r) => r.packetsOut / r.cpuS)))}; load1 ${mine.map((r) => r.load1.toFixed(1)).join(' ')}`,
    );
  }
  const native = runs.filter((r) => r.relay === 'native');
  if (native.length > 0) {
    const ratio = median(native.map((r) => r.cpuS / coturnCpu.get(r.round)!));
    const rss = Math.max(...native.map((r) => r.peakRssMb));
    console.log(`\ngoals (native): median CPU ratio ${ratio.toFixed(2)} ≤ 1.0 ${ratio <= 1 ? 'met' : 'NOT met'}; 0 % loss ${native.every((r) => r.lost === 0) ? 'met' : 'NOT met'}; peak RSS ${rss.toFixed(1)} ≤ 60 MB ${rss <= 60 ? 'met' : 'NOT met'}`);
  }
}

async function main(): Promise<void> {
  const values = new Command()
    .name('bench:turn')
    .description('our relay (native and JavaScript data paths) against coturn under the same turnutils_uclient load')
    .option('--rounds <n>', 'rounds (each runs every relay once)', '5')
    .option('--only <list>', 'our data paths to run, comma-separated: native,js (coturn always runs)')
    .option('--node-flags <flags>', "node flags of our relay's process, replacing the default")
    .parse()
    .opts<{ rounds: string; only?: string; nodeFlags?: string }>();
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new RangeError('--rounds 1-20');
  const only = values.only ? (values.only.split(',') as RelayName[]) : undefined;
  const order: RelayName[] = (['native', 'js', 'coturn'] as const).filter((n) => !only || only.includes(n) || n === 'coturn');
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dir = mkdtempSync(path.join(tmpdir(), 'turn-bench-'));
  const usersFile = path.join(dir, 'users.json');
  writeFileSync(usersFile, JSON.stringify({ version: 1, users: [{ name: USER, realm: REALM, key: hmacKey(USER, REALM, PASSWORD) }], secrets: [] }));
  const peerPort = await freeTcpPort();
  const peer = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(peerPort)], { stdio: 'ignore' });
  const nodeFlags = values.nodeFlags?.split(' ').filter(Boolean);
  const env: Env = { relayMain: path.resolve(here, '../turn/main.js'), dir, usersFile, peerPort, nodeFlags };
  const runs: Run[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      // Rotate the order so that no relay always runs first (or right after another's load).
      const turn = order.map((_, i) => order[(i + round - 1) % order.length]!);
      for (const name of turn) {
        const range: [number, number] = name === 'coturn' ? [41000, 41999] : name === 'native' ? [40000, 40999] : [42000, 42999];
        const r = await measure(name, round, env, range);
        console.log(`round ${round} ${name}: CPU ${r.cpuS.toFixed(2)} s, loss ${r.lost}, peak RSS ${r.peakRssMb.toFixed(1)} MB, load ${r.load1}`);
        runs.push(r);
      }
    }
  } finally {
    await stop(peer);
    rmSync(dir, { recursive: true, force: true });
  }
  report(runs, rounds);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
