/**
 * Benchmark (not a test): our relay vs coturn `turnserver` on loopback with the same settings and
 * the same load: `turnutils_uclient -c -m 100 -n 1000 -z 5 -l 1000` (100 clients × 1000 messages
 * of 1000 bytes over channels, echoed by `turnutils_peer`). Prints loss, server CPU seconds during
 * the load (utime+stime from /proc/PID/stat), the CPU ratio ours/coturn and peak RSS (VmHWM).
 *
 * Run: `npm run bench:turn` (builds first). Needs coturn's binaries (`apt-get install coturn`).
 * Goal: 0 % loss, CPU ≤ 1.25 × coturn. When packets were lost, it also prints which sockets'
 * receive buffers overflowed (relay listening port, relay ports, echo peer, other = load client).
 * The machine is shared: repeat runs and compare medians (the ratio varies ±15 % run to run).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hmacKey } from '../turn/index.js';
import { freeTcpPort } from '../test/helpers/ports.js';
import { cpuSeconds, rssMb as rssOf } from './proc.js';

const REALM = 'bench.test';
const USER = 'alice';
const PASSWORD = 'secret';
const LOAD = ['-c', '-m', '100', '-n', '1000', '-z', '5', '-l', '1000'];

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => resolve(`${out}${errOut}${err ? `\n[${err.message}]` : ''}`)));
}

function waitForUdpPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      const listening = readFileSync('/proc/net/udp', 'utf8').includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `);
      if (listening) resolve();
      else if (Date.now() > deadline) reject(new Error(`nothing listening on UDP ${port}`));
      else setTimeout(check, 50);
    };
    check();
  });
}

/** Kernel-wide UDP receive-buffer drops (/proc/net/snmp Udp RcvbufErrors): includes every process on the machine. */
function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
}

/**
 * Receive-buffer drops per open UDP socket on 127.0.0.1 right now (/proc/net/udp `drops`), grouped:
 * the relay's listening port, its relay port range, the echo peer, and everything else (the load
 * client's sockets, other processes). Tells WHO could not keep up when packets were lost.
 */
function socketDrops(listenPort: number, range: [number, number], peerPort: number): Record<string, number> {
  const out: Record<string, number> = { listening: 0, relayPorts: 0, peer: 0, other: 0 };
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const drops = Number(f.at(-1));
    if (!drops) continue;
    const port = parseInt(f[1]!.split(':')[1]!, 16);
    const k = port === listenPort ? 'listening' : port >= range[0] && port <= range[1] ? 'relayPorts' : port === peerPort ? 'peer' : 'other';
    out[k]! += drops;
  }
  return out;
}

interface Result {
  name: string;
  rcvbufErrors: number;
  lostPercent: number;
  lost: number;
  received: number;
  cpuS: number;
  rssMb: number;
  wallS: number;
  /** Socket receive-buffer drops by socket group, counted at the end of the load (see socketDrops). */
  drops: Record<string, number>;
}

async function measure(name: string, server: ChildProcess, port: number, peerPort: number, range: [number, number]): Promise<Result> {
  await waitForUdpPort(port);
  await new Promise((r) => setTimeout(r, 300));
  const pid = server.pid!;
  const sockDrops0 = socketDrops(port, range, peerPort);
  const cpu0 = cpuSeconds(pid);
  const drops0 = udpRcvbufErrors();
  const t0 = Date.now();
  const out = await run('turnutils_uclient', [...LOAD, '-u', USER, '-w', PASSWORD, '-p', String(port), '-e', '127.0.0.1', '-r', String(peerPort), '-X', '-g', '127.0.0.1']);
  const wallS = (Date.now() - t0) / 1000;
  const cpuS = cpuSeconds(pid) - cpu0;
  const rcvbufErrors = udpRcvbufErrors() - drops0;
  const rssMb = rssOf(pid).peak;
  const sockDrops1 = socketDrops(port, range, peerPort);
  const drops = Object.fromEntries(Object.keys(sockDrops1).map((k) => [k, sockDrops1[k]! - (sockDrops0[k] ?? 0)]));
  const loss = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(out);
  const totals = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/gm)].at(-1);
  if (!loss || !totals) throw new Error(`${name}: cannot parse turnutils_uclient output:\n${out.slice(-2000)}`);
  return { name, rcvbufErrors, lost: Number(loss[1]), lostPercent: Number(loss[2]), received: Number(totals[2]), cpuS, rssMb, wallS, drops };
}

function stop(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 5000).unref();
  });
}

async function main(): Promise<void> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const relayMain = path.resolve(here, '../turn/main.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'turn-bench-'));
  const usersFile = path.join(dir, 'users.json');
  writeFileSync(usersFile, JSON.stringify({ version: 1, users: [{ name: USER, realm: REALM, key: hmacKey(USER, REALM, PASSWORD) }], secrets: [] }));
  const peerPort = await freeTcpPort();
  const peer = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(peerPort)], { stdio: 'ignore' });
  const children: ChildProcess[] = [peer];
  const results: Result[] = [];
  try {
    // Ours.
    const ourPort = await freeTcpPort();
    const ours = spawn(process.execPath, [relayMain], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        TURN_REALM: REALM,
        TURN_SECRET: 'unused-bench-secret',
        TURN_USERS_FILE: usersFile,
        TURN_LISTEN: '127.0.0.1',
        TURN_PORT: String(ourPort),
        TURN_TLS_CERT: '',
        TURN_MIN_PORT: '40000',
        TURN_MAX_PORT: '40999',
        TURN_ALLOWED_PEERS: '127.0.0.0/8',
        TURN_USER_QUOTA: '0',
        TURN_TOTAL_QUOTA: '0',
        TURN_CHANNEL_RANGE: 'rfc5766',
        CERTS_DIR: path.join(dir, 'no-certs'),
        DATA_DIR: dir,
        LOG_LEVEL: 'warn',
      },
    });
    children.push(ours);
    results.push(await measure('ours', ours, ourPort, peerPort, [40000, 40999]));
    await stop(ours);

    // coturn with the same settings.
    const coturnPort = await freeTcpPort();
    const coturn = spawn(
      'turnserver',
      [
        '-n',
        '--listening-ip=127.0.0.1',
        `--listening-port=${coturnPort}`,
        '--relay-ip=127.0.0.1',
        '--min-port=41000',
        '--max-port=41999',
        '--lt-cred-mech',
        `--user=${USER}:${PASSWORD}`,
        `--realm=${REALM}`,
        '--no-tls',
        '--no-dtls',
        '--no-cli',
        '--allow-loopback-peers',
        '--log-file=stdout',
        '--simple-log',
      ],
      { stdio: 'ignore' },
    );
    children.push(coturn);
    results.push(await measure('coturn', coturn, coturnPort, peerPort, [41000, 41999]));
    await stop(coturn);
  } finally {
    for (const c of children) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  }
  const [ours, coturn] = results as [Result, Result];
  console.log(`\nturnutils_uclient ${LOAD.join(' ')} (channels, 100k echoed messages of 1000 bytes)\n`);
  console.log(`machine load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log('relay    loss               received   CPU s (load)   peak RSS MB   wall s   kernel UDP rcvbuf drops (all processes)');
  for (const r of results) {
    console.log(
      `${r.name.padEnd(8)} ${`${r.lost} (${r.lostPercent}%)`.padEnd(18)} ${String(r.received).padEnd(10)} ${r.cpuS.toFixed(2).padEnd(14)} ${r.rssMb.toFixed(1).padEnd(13)} ${r.wallS.toFixed(1).padEnd(8)} ${r.rcvbufErrors}`,
    );
  }
  for (const r of results) {
    if (r.rcvbufErrors > 0) console.log(`${r.name}: receive-buffer drops by socket: ${JSON.stringify(r.drops)} (other = load client or other processes)`);
  }
  const ratio = ours.cpuS / coturn.cpuS;
  console.log(`\nCPU ratio ours/coturn: ${ratio.toFixed(2)} (goal <= 1.25)`);
  console.log(`loss goal 0 %: ours ${ours.lostPercent === 0 ? 'met' : 'NOT met'}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
