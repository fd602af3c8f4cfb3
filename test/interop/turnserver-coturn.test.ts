/**
 * The coturn-style `turnserver` command (dist/turn/cli/turnserver.js) with coturn's own client:
 * a coturn `turnserver.conf` (static user, realm, ports, allowed peer, user-quota, and coturn keys we
 * do not implement) serves a relay `turnutils_uclient` uses with 0 % loss, the unsupported keys
 * only warned about; `--use-auth-secret --static-auth-secret=S --realm=R` does the same without a
 * file; an unknown flag or a bad value exits 1 with one line. Skipped, loudly, without coturn's
 * binaries or dist/.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeTcpPort, freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { clisBuilt, runCli, spawnUntil, type LongRunning } from '../turn/cli-helpers.js';

const binDirs = (process.env.PATH ?? '/usr/bin').split(':');
const missing = ['turnutils_uclient', 'turnutils_peer'].filter((b) => !binDirs.some((d) => existsSync(path.join(d, b))));
const skipReason = missing.length > 0 ? `coturn client binaries missing: ${missing.join(', ')} (apt-get install coturn)` : !clisBuilt() ? 'dist/turn/cli missing: run npm run build:server' : '';
if (skipReason) console.warn(`\n*** SKIPPING turnserver interop tests: ${skipReason} ***\n`);

let dir: string;
let peer: ChildProcess | undefined;
let peerPort: number;

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => resolve(`${stdout}${stderr}${err ? `\n[exit: ${err.message}]` : ''}`));
  });
}

async function uclient(args: string[]): Promise<{ lost: number; received: number; out: string }> {
  const out = await run('turnutils_uclient', [...args, '-e', '127.0.0.1', '-r', String(peerPort), '-X', '-g', '-z', '5', '-n', '100', '-m', '10', '-l', '170', '127.0.0.1']);
  const loss = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(out);
  const totals = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/gm)].at(-1);
  return { lost: loss ? Number(loss[1]) : -1, received: totals ? Number(totals[2]) : 0, out };
}

/** Start `turnserver ARGS` in `dir`; resolves once it logs that it listens. */
function turnserver(args: string[]): Promise<LongRunning & { match: RegExpMatchArray }> {
  return spawnUntil(process.execPath, [path.resolve('dist/turn/cli/turnserver.js'), ...args], /relay listening: /, { cwd: dir, env: { DATA_DIR: path.join(dir, 'data'), CERTS_DIR: path.join(dir, 'certs') }, timeoutMs: 60_000 });
}

describe.skipIf(skipReason !== '')('turnserver: coturn command line and turnserver.conf', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'turnserver-'));
    peerPort = await freeUdpTcpPort();
    peer = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(peerPort)], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
  });
  afterAll(() => {
    peer?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a coturn turnserver.conf (static user, realm, ports, allowed peer, user-quota, unsupported keys): 0 % loss over UDP and TLS', async () => {
    const [port, tlsPort] = [await freeUdpTcpPort(), await freeTcpPort()];
    const range = randomRelayRange(200);
    const conf = path.join(dir, 'turnserver.conf');
    writeFileSync(
      conf,
      [
        '# a coturn configuration',
        `listening-port=${port}`,
        `tls-listening-port=${tlsPort}`,
        'listening-ip=127.0.0.1',
        'relay-ip=127.0.0.1',
        `min-port=${range.min}`,
        `max-port=${range.max}`,
        'realm=example.org',
        'lt-cred-mech',
        'fingerprint',
        'user=alice:wonderland',
        'allowed-peer-ip=127.0.0.1',
        'user-quota=25',
        'total-quota=500',
        'no-cli',
        'no-dtls',
        'cli-password=qwerty',
        'syslog',
        'pidfile="/var/run/turnserver.pid"',
        'mobility',
        'some-future-coturn-key=1',
        '',
      ].join('\n'),
    );
    const relay = await turnserver(['-c', conf]);
    try {
      const out = relay.output();
      expect(out).toMatch(/configuration file .*turnserver\.conf/);
      for (const key of ['cli-password', 'syslog', 'pidfile', 'mobility']) expect(out).toMatch(new RegExp(`turnserver\\.conf:\\d+ ${key}: not supported \\(.+\\); ignored`));
      expect(out).toMatch(/turnserver\.conf:\d+: unknown option "some-future-coturn-key": ignored/);
      expect(out).toMatch(new RegExp(`relay listening: udp 127\\.0\\.0\\.1:${port}; tcp ${port}; tls ${tlsPort}; realm example\\.org; relay ports ${range.min}-${range.max}`));
      // -m 10 with RTCP pairs: 20 allocations under one name, inside user-quota=25.
      const udp = await uclient(['-u', 'alice', '-w', 'wonderland', '-p', String(port)]);
      expect(udp.lost, udp.out.slice(-1500)).toBe(0);
      expect(udp.received).toBeGreaterThanOrEqual(1000);
      const tls = await uclient(['-t', '-S', '-c', '-u', 'alice', '-w', 'wonderland', '-p', String(tlsPort)]);
      expect(tls.lost, tls.out.slice(-1500)).toBe(0);
      // No REST credentials without use-auth-secret/static-auth-secret (coturn's rule).
      const rest = await uclient(['-c', '-W', 'any-secret-at-all-0123456789', '-p', String(port)]);
      expect(rest.received).toBe(0);
    } finally {
      await relay.stop();
    }
  });

  it('--use-auth-secret --static-auth-secret=S --realm=R without a file: 0 % loss with TURN REST credentials', async () => {
    const port = await freeUdpTcpPort();
    const range = randomRelayRange(200);
    const secret = 'static-auth-secret-0123456789';
    const relay = await turnserver([
      '-n',
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=rest.example.org',
      '-L',
      '127.0.0.1',
      '-p',
      String(port),
      '--no-tls',
      `--min-port=${range.min}`,
      `--max-port=${range.max}`,
      '--allowed-peer-ip=127.0.0.1',
    ]);
    try {
      expect(relay.output()).toMatch(/realm rest\.example\.org/);
      expect(relay.output()).toMatch(/; tls -;/);
      const r = await uclient(['-W', secret, '-p', String(port)]);
      expect(r.lost, r.out.slice(-1500)).toBe(0);
      expect(r.received).toBeGreaterThanOrEqual(1000);
    } finally {
      await relay.stop();
    }
  });

  it('an unknown flag or an invalid value: one line, exit code 1, nothing started', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['-n', '--bogus-flag'], /^turnserver: unknown option '--bogus-flag'$/],
      [['-n', '--lisening-port', '3478'], /^turnserver: unknown option '--lisening-port' \(Did you mean --listening-port\?\)$/],
      [['-n', '--listening-port=99999'], /^turnserver: invalid option: --listening-port \(TURN_PORT\): Too big/],
      [['-n', '--listening-ip=not-an-ip'], /^turnserver: --listening-ip: "not-an-ip" is not an IPv4 or IPv6 address$/],
      [['-n', '-X', '198.51.100.1', '-X', '198.51.100.2'], /^turnserver: --external-ip: one mapping is supported/],
      [['-c', path.join(tmpdir(), 'no-such-turnserver.conf')], /^turnserver: -c: configuration file .* not found/],
      [['-n', 'extra-argument'], /^turnserver: too many arguments/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli('turnserver', args, { cwd: dir, env: { DATA_DIR: path.join(dir, 'data') }, timeoutMs: 30_000 });
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
      expect(r.stdout).toBe('');
    }
  });
});
