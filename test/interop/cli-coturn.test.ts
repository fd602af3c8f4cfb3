/**
 * Interop of our CLIs with coturn: `stunclient` and `uclient` (dist/turn/cli) against coturn's
 * `turnserver` on loopback, with coturn's `turnutils_peer` (and our `turnpeer`) as the echo peer:
 * UDP/TCP/TLS, ChannelData and Send indications, long-term and TURN REST credentials → 0 % loss.
 * Skips loudly when coturn or the built CLIs are missing. Needs `npm run build:server`.
 */
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSelfSigned } from '../../server/certs.js';
import { freeTcpPort, freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { clisBuilt, parseUclientJson, runCli, spawnUntil, startTurnPeer, type LongRunning } from '../turn/cli-helpers.js';

const hasBinary = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
const missing = [...['turnserver', 'turnutils_peer'].filter((b) => !hasBinary(b)), ...(clisBuilt() ? [] : ['dist/turn/cli (run npm run build:server)'])];
if (missing.length > 0) console.warn(`SKIPPING cli-coturn interop tests: missing ${missing.join(', ')} (apt-get install -y coturn; npm run build:server)`);

let dir: string;
let turnPort: number;
let tlsPort: number;
let restPort: number;
let peerPort: number;
let coturn: LongRunning | undefined;
let coturnRest: LongRunning | undefined;
let coturnPeer: LongRunning | undefined;

/** Send a datagram to 127.0.0.1:port until it is echoed (the peer is up), at most `ms`. */
async function waitForEcho(port: number, ms = 10_000): Promise<void> {
  const sock = createSocket('udp4');
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + ms;
      sock.on('message', () => resolve());
      const tick = () => {
        if (Date.now() > deadline) return reject(new Error(`no echo from 127.0.0.1:${port}`));
        sock.send('ping', port, '127.0.0.1');
        timer = setTimeout(tick, 100);
      };
      sock.bind(0, '127.0.0.1', tick);
    });
  } finally {
    clearTimeout(timer);
    sock.close();
  }
}

/** Start coturn on loopback with our ports; resolves once it answers a Binding request over UDP. */
async function startCoturn(port: number, extra: string[]): Promise<LongRunning> {
  const range = randomRelayRange(100);
  const args = [
    '-n',
    '--listening-ip=127.0.0.1',
    `--listening-port=${port}`,
    '--relay-ip=127.0.0.1',
    `--min-port=${range.min}`,
    `--max-port=${range.max}`,
    '--realm=example.org',
    '--no-dtls',
    '--no-cli',
    '--allow-loopback-peers',
    `--userdb=${path.join(dir, `turndb-${port}`)}`,
    `--pidfile=${path.join(dir, `turnserver-${port}.pid`)}`,
    '--log-file=stdout',
    ...extra,
  ];
  const proc = await spawnUntil('turnserver', args, null, { cwd: dir, timeoutMs: 10_000 });
  for (let i = 0; i < 40; i++) {
    const r = await runCli('stunclient', ['127.0.0.1', '-p', String(port), '--timeout', '300', '--rto', '100'], { cwd: dir });
    if (r.code === 0) return proc;
  }
  await proc.stop();
  throw new Error(`coturn did not answer on ${port}: ${proc.output().slice(-2000)}`);
}

beforeAll(async () => {
  if (missing.length > 0) return;
  dir = mkdtempSync(path.join(tmpdir(), 'cli-coturn-'));
  const tls = await generateSelfSigned(path.join(dir, 'certs'));
  turnPort = await freeUdpTcpPort();
  tlsPort = await freeTcpPort();
  restPort = await freeUdpTcpPort();
  peerPort = await freeUdpTcpPort();
  coturnPeer = await spawnUntil('turnutils_peer', ['-L', '127.0.0.1', '-p', String(peerPort)], null, { cwd: dir });
  await waitForEcho(peerPort);
  coturn = await startCoturn(turnPort, ['--lt-cred-mech', '--user=alice:secret', `--tls-listening-port=${tlsPort}`, `--cert=${tls.certPath}`, `--pkey=${tls.keyPath}`]);
  coturnRest = await startCoturn(restPort, ['--use-auth-secret', '--static-auth-secret=rest-shared-secret', '--no-tls']);
});

afterAll(async () => {
  await Promise.all([coturn?.stop(), coturnRest?.stop(), coturnPeer?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const uclient = (args: string[]) => runCli('uclient', ['127.0.0.1', '--json', '--max-seconds', '60', ...args], { cwd: dir, timeoutMs: 90_000 });

describe.skipIf(missing.length > 0)('stunclient against coturn', () => {
  it('prints the mapped address over UDP and TCP', async () => {
    for (const transport of ['udp', 'tcp']) {
      const r = await runCli('stunclient', ['127.0.0.1', '-p', String(turnPort), '--transport', transport], { cwd: dir });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${turnPort}: XOR-MAPPED-ADDRESS 127\\.0\\.0\\.1:\\d+ rtt=[\\d.]+ ms`, 'm'));
    }
  });

  it('continuous mode: --count/--interval report 0 % loss and RTT', async () => {
    const r = await runCli('stunclient', ['127.0.0.1', '-p', String(turnPort), '-c', '5', '-i', '20', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('{"summary"'));
    expect(line, `stdout: ${JSON.stringify(r.stdout)} stderr: ${JSON.stringify(r.stderr)}`).toBeDefined();
    const summary = JSON.parse(line!).summary;
    expect(summary).toMatchObject({ sent: 5, received: 5, lossPercent: 0 });
    expect(summary.rttAvgMs).toBeGreaterThan(0);
  });

  it('no server → retransmits (RFC 8489 §6.2.1), then exit code 1', async () => {
    const deadPort = await freeUdpTcpPort();
    const r = await runCli('stunclient', ['127.0.0.1', '-p', String(deadPort), '--timeout', '1600', '--rto', '100'], { cwd: dir });
    expect(r.code).toBe(1);
    // RTO 100 ms doubling: sends at 0, 100, 300, 700, 1500 ms within 1600 ms.
    expect(r.stdout).toMatch(/no response after 5 transmission\(s\)/);
    expect(r.stderr).toMatch(/^stunclient: no Binding response/);
  });
});

describe.skipIf(missing.length > 0)('uclient through coturn to turnutils_peer', () => {
  const load = ['-m', '5', '-n', '200', '-z', '5', '-l', '170', '-e', '127.0.0.1'];

  for (const [name, extra] of [
    ['UDP, ChannelData', []],
    ['UDP, Send indications', ['-s']],
    ['TCP, ChannelData', ['-t']],
    ['TCP, Send indications', ['-t', '-s']],
  ] as const) {
    it(`${name}: 0 % loss`, async () => {
      const r = await uclient(['-p', String(turnPort), '-u', 'alice', '-w', 'secret', ...load, '-r', String(peerPort), ...extra]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const s = parseUclientJson(r.stdout);
      expect(s).toMatchObject({ clientsFailed: 0, sent: 1000, received: 1000, lost: 0, lossPercent: 0, duplicates: 0, corrupted: 0, allocationsReleased: 5 });
      expect(s.rttAvgMs).toBeGreaterThan(0);
    });
  }

  it('TLS (self-signed, not verified), ChannelData: 0 % loss', async () => {
    const r = await uclient(['-p', String(tlsPort), '--transport', 'tls', '-u', 'alice', '-w', 'secret', ...load, '-r', String(peerPort)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(parseUclientJson(r.stdout)).toMatchObject({ transport: 'tls', clientsFailed: 0, received: 1000, lost: 0 });
  });

  it('TLS with --ca of another authority → handshake refused', async () => {
    const other = await generateSelfSigned(path.join(dir, 'other-ca'));
    const r = await uclient(['-p', String(tlsPort), '--transport', 'tls', '--ca', other.certPath, '-u', 'alice', '-w', 'secret', '-n', '1', '-e', '127.0.0.1', '-r', String(peerPort)]);
    expect(r.code).toBe(1);
    expect(parseUclientJson(r.stdout).errors.join()).toMatch(/tls connect .* failed/);
  });

  it('wrong password → 401, exit code 1', async () => {
    const r = await uclient(['-p', String(turnPort), '-u', 'alice', '-w', 'wrong', '-n', '1', '-e', '127.0.0.1', '-r', String(peerPort)]);
    expect(r.code).toBe(1);
    expect(parseUclientJson(r.stdout)).toMatchObject({ clientsFailed: 1, errors: ['Allocate failed: 401 Unauthorized'] });
  });

  it('our turnpeer as the peer: 0 % loss', async () => {
    const peer = await startTurnPeer(dir);
    try {
      const r = await uclient(['-p', String(turnPort), '-u', 'alice', '-w', 'secret', ...load, '-r', String(peer.port)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(parseUclientJson(r.stdout)).toMatchObject({ clientsFailed: 0, received: 1000, lost: 0 });
    } finally {
      await peer.stop();
    }
    expect(peer.output()).toMatch(/received 1000 datagrams \(170000 bytes\), echoed 1000/);
  });
});

describe.skipIf(missing.length > 0)('uclient with TURN REST credentials (coturn use-auth-secret)', () => {
  it('-W SECRET: 0 % loss over UDP and TCP', async () => {
    for (const extra of [[], ['-t']]) {
      const r = await uclient(['-p', String(restPort), '-W', 'rest-shared-secret', '-m', '3', '-n', '100', '-z', '5', '-e', '127.0.0.1', '-r', String(peerPort), ...extra]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(parseUclientJson(r.stdout)).toMatchObject({ clientsFailed: 0, received: 300, lost: 0, allocationsReleased: 3 });
    }
  });

  it('-W with the wrong secret → 401', async () => {
    const r = await uclient(['-p', String(restPort), '-W', 'not-the-secret', '-n', '1', '-e', '127.0.0.1', '-r', String(peerPort)]);
    expect(r.code).toBe(1);
    expect(parseUclientJson(r.stdout).errors).toEqual(['Allocate failed: 401 Unauthorized']);
  });
});
