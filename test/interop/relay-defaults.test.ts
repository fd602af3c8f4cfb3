/**
 * coturn's `turnutils_uclient` against the relay as `npm run turn` runs it (node dist/turn/main.js,
 * standalone) with DEFAULT settings — default channel range and quotas, the generated TURN REST
 * secret in DATA_DIR, the self-signed certificate the relay makes for itself — plus only what a
 * loopback test needs (free ports, `TURN_ALLOWED_PEERS=127.0.0.1/32` for the echo peer):
 * channels (-c), Send indications (-s), RTCP pairs (the default: two allocations per client, so 20
 * under one user name with -m 10) and client-to-client (-y), over UDP, TCP and TLS, each at 0 % loss.
 * Then `turnadmin -a -u alice -r REALM -p PW` (coturn's spelling) lets alice in within a second and
 * `-d` shuts her out, and the relay's own Prometheus listener counts it all with no internal error.
 * Skipped, loudly, without coturn's binaries or dist/.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TurnClient, TurnRequestError } from '../../turn/index.js';
import { freeTcpPort, freeUdpTcpPort } from '../helpers/ports.js';
import { clisBuilt, runCli, spawnUntil, type LongRunning } from '../turn/cli-helpers.js';

const RELAY_MAIN = path.resolve('dist/turn/main.js');
const binDirs = (process.env.PATH ?? '/usr/bin').split(':');
const missing = ['turnutils_uclient', 'turnutils_peer'].filter((b) => !binDirs.some((d) => existsSync(path.join(d, b))));
const skipReason = missing.length > 0 ? `coturn client binaries missing: ${missing.join(', ')} (apt-get install coturn)` : !existsSync(RELAY_MAIN) || !clisBuilt() ? 'dist/ missing: run npm run build:server' : '';
if (skipReason) console.warn(`\n*** SKIPPING relay-defaults interop tests: ${skipReason} ***\n`);

let dir: string;
let relay: LongRunning | undefined;
let peer: ChildProcess | undefined;
let port: number;
let tlsPort: number;
let peerPort: number;
let metricsPort: number;
let secret: string;
const env = () => ({ DATA_DIR: path.join(dir, 'data'), CERTS_DIR: path.join(dir, 'certs'), TURN_PORT: String(port), TURN_TLS_PORT: String(tlsPort), TURN_ALLOWED_PEERS: '127.0.0.1/32' });

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => resolve(`${stdout}${stderr}${err ? `\n[exit: ${err.message}]` : ''}`));
  });
}

/** turnutils_uclient -m 10 -n 100 through the relay; returns sent/received/lost and the output. */
async function uclient(flags: string[], creds: string[] = ['-W', secret], m = 10): Promise<{ sent: number; received: number; lost: number; out: string }> {
  const tls = flags.includes('-S');
  const peerArgs = flags.includes('-y') ? [] : ['-e', '127.0.0.1', '-r', String(peerPort)];
  const args = [...flags, ...creds, '-p', String(tls ? tlsPort : port), ...peerArgs, '-X', '-g', '-z', '5', '-n', '100', '-m', String(m), '-l', '170', '127.0.0.1'];
  const out = await run('turnutils_uclient', args);
  const loss = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(out);
  const totals = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/gm)].at(-1);
  if (!loss || !totals) return { sent: 0, received: 0, lost: -1, out };
  return { lost: Number(loss[1]), sent: Number(totals[1]), received: Number(totals[2]), out };
}

/** Whether the relay lets `cred` allocate over UDP (false on 401); the allocation is released. */
async function allocates(cred: { username: string; password: string }): Promise<boolean> {
  const c = await TurnClient.connect({ transport: 'udp', host: '127.0.0.1', port }, cred, { timeoutMs: 3000 });
  try {
    await c.allocateRelayed();
    await c.refresh(0, 2000);
    return true;
  } catch (err) {
    if (err instanceof TurnRequestError && err.code === 401) return false;
    throw err;
  } finally {
    c.close();
  }
}

/** Poll `check` every 50 ms; @returns the ms it took to return true, or -1 after `ms`. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > ms) return -1;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: metricsPort, path: '/metrics', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(skipReason !== '')('coturn turnutils_uclient against `npm run turn` with default settings', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'relay-defaults-'));
    [port, tlsPort, peerPort, metricsPort] = [await freeUdpTcpPort(), await freeTcpPort(), await freeUdpTcpPort(), await freeTcpPort()];
    peer = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(peerPort)], { stdio: 'ignore' });
    relay = await spawnUntil(process.execPath, [RELAY_MAIN], /relay listening: .*tls (\d+)/, {
      cwd: dir,
      env: { ...env(), TURN_LISTEN: '127.0.0.1', TURN_METRICS_PORT: String(metricsPort) },
      timeoutMs: 60_000,
    });
    secret = readFileSync(path.join(dir, 'data', 'turn-secret'), 'utf8').trim();
    expect(relay.output()).toMatch(/generated a self-signed certificate/);
    await new Promise((r) => setTimeout(r, 200)); // let turnutils_peer bind
  });

  afterAll(async () => {
    await relay?.stop();
    peer?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // One run per mode, the four modes of a transport at once (60 allocations under one REST user
  // name at most: within the default per-user quota of 100).
  const modes: Array<[string, string[]]> = [
    ['channels (-c)', ['-c']],
    ['Send indications (-s)', ['-s']],
    ['RTCP pairs (two allocations per client)', []],
    ['client-to-client (-y)', ['-y']],
  ];
  it.each([
    ['UDP', []],
    ['TCP', ['-t']],
    ['TLS', ['-t', '-S']],
  ])('%s: channels, Send indications, RTCP pairs and client-to-client, no loss', async (_transport, t) => {
    const runs = await Promise.all(modes.map(([, flags]) => uclient([...t, ...flags])));
    runs.forEach((r, i) => {
      const what = `${modes[i]![0]}: ${r.out.slice(-1500)}`;
      expect(r.lost, what).toBe(0);
      expect(r.sent, what).toBeGreaterThanOrEqual(1000);
      expect(r.received, what).toBe(r.sent);
    });
  });

  it("turnadmin -a (coturn's spelling) lets a user in within a second; -d shuts her out", async () => {
    const alice = { username: 'alice', password: 'wonderland' };
    expect(await allocates(alice)).toBe(false);
    const added = await runCli('turnadmin', ['-a', '-u', 'alice', '-r', 'webrtc-call', '-p', 'wonderland'], { cwd: dir, env: env() });
    expect(added.code, added.stderr).toBe(0);
    expect(await within(1000, () => allocates(alice)), 'alice accepted within a second').toBeGreaterThanOrEqual(0);
    const r = await uclient(['-c'], ['-u', 'alice', '-w', 'wonderland'], 2);
    expect(r.lost, r.out.slice(-1500)).toBe(0);
    expect(r.received).toBe(200);
    const deleted = await runCli('turnadmin', ['-d', '-u', 'alice', '-r', 'webrtc-call'], { cwd: dir, env: env() });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await within(1000, async () => !(await allocates(alice))), 'alice refused within a second').toBeGreaterThanOrEqual(0);
    expect((await uclient(['-c'], ['-u', 'alice', '-w', 'wonderland'], 1)).received).toBe(0);
  });

  it("the relay's Prometheus listener (TURN_METRICS_PORT) counts the runs, with no internal error", async () => {
    const text = await metrics();
    const created = Number(/^webrtc_turn_allocations_total\{event="created"\} (\d+)$/m.exec(text)?.[1]);
    expect(created).toBeGreaterThanOrEqual(12 * 10); // 12 runs of 10 clients, most with two allocations each
    expect(text).toMatch(/^webrtc_turn_internal_errors_total 0$/m);
    expect(text).toMatch(/^webrtc_turn_up 1$/m);
    expect(text).toMatch(/^webrtc_turn_auth_total\{result="failure",reason="[a-z_]+"\} [1-9]/m);
  });
});
