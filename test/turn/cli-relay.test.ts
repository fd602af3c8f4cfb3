/**
 * Our CLIs (dist/turn/cli, real child processes) against OUR relay (`createTurnServer`, in-process on
 * loopback): `stunclient` gets the mapped address; `uclient` goes through the relay to our `turnpeer`
 * with channels and with Send indications over UDP, TCP and TLS with 0 % loss and releases its
 * allocations; users and secrets changed with `turnadmin` take effect without a relay restart.
 * Needs `npm run build:server`.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSelfSigned } from '../../server/certs.js';
import { createTurnServer, type TurnServer } from '../../turn/index.js';
import { Attr, AttributeType, StunClass, decodeMessage, encodeMessage } from '../../turn/stun/index.js';
import { freeTcpPort, freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { clisBuilt, parseUclientJson, runCli, startTurnPeer, type CliRun, type LongRunning } from './cli-helpers.js';

const REALM = 'cli.test';
const SECRET = 'cli-test-secret';
const built = clisBuilt();
if (!built) console.warn('SKIPPING cli-relay tests: dist/turn/cli/*.js missing; run `npm run build:server` first');

let dir: string;
let usersFile: string;
let relay: TurnServer;
let port: number;
let tlsPort: number;
let peer: LongRunning & { port: number };
let certPath: string;

beforeAll(async () => {
  if (!built) return;
  dir = mkdtempSync(path.join(tmpdir(), 'cli-relay-'));
  usersFile = path.join(dir, 'turn-users.json');
  const tls = await generateSelfSigned(path.join(dir, 'certs'));
  certPath = tls.certPath;
  port = await freeUdpTcpPort();
  tlsPort = await freeTcpPort();
  const range = randomRelayRange(200);
  relay = createTurnServer({
    realm: REALM,
    secrets: [SECRET],
    usersFile,
    usersFilePollMs: 100,
    listen: '127.0.0.1',
    port,
    tlsPort,
    tls: { cert: tls.cert, key: tls.key },
    minPort: range.min,
    maxPort: range.max,
    allowedPeers: ['127.0.0.0/8'],
    userQuota: 0,
    sweepIntervalMs: 200,
  });
  await relay.start();
  peer = await startTurnPeer(dir);
});

afterAll(async () => {
  await peer?.stop();
  await relay?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const uclient = (args: string[]) => runCli('uclient', ['127.0.0.1', '--json', '--max-seconds', '60', '-e', '127.0.0.1', '-r', String(peer.port), ...args], { cwd: dir, timeoutMs: 90_000 });
// turnadmin sees the relay's settings, as on a real host (same environment).
const admin = (args: string[]) => runCli('turnadmin', ['--file', usersFile, ...args], { cwd: dir, env: { TURN_REALM: REALM, TURN_SECRET: SECRET, DATA_DIR: path.join(dir, 'data') } });

/** Run `attempt` every 100 ms until `ok(result)` or `ms` elapse; returns the last result. */
async function until(attempt: () => Promise<CliRun>, ok: (r: CliRun) => boolean, ms = 8000): Promise<CliRun> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await attempt();
    if (ok(r) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe.skipIf(!built)('stunclient against our relay', () => {
  it('prints the mapped address over UDP, TCP and TLS', async () => {
    for (const [transport, p] of [
      ['udp', port],
      ['tcp', port],
      ['tls', tlsPort],
    ] as const) {
      const r = await runCli('stunclient', ['127.0.0.1', '-p', String(p), '--transport', transport], { cwd: dir });
      expect(r.code, `${transport}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${p}: XOR-MAPPED-ADDRESS 127\\.0\\.0\\.1:\\d+ rtt=`, 'm'));
    }
  });

  it('TLS with --ca verifies the relay certificate', async () => {
    const r = await runCli('stunclient', ['127.0.0.1', '-p', String(tlsPort), '--transport', 'tls', '--ca', certPath, '-c', '2', '-i', '10'], { cwd: dir });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 requests, 2 responses, 0% loss/);
  });
});

describe.skipIf(!built)('uclient through our relay to turnpeer', () => {
  for (const [name, extra] of [
    ['UDP, ChannelData', []],
    ['UDP, Send indications', ['-s']],
    ['TCP, ChannelData', ['--transport', 'tcp']],
    ['TCP, Send indications', ['--transport', 'tcp', '-s']],
    ['TLS, ChannelData', ['--transport', 'tls']],
    ['TLS, Send indications', ['--transport', 'tls', '-s']],
  ] as const) {
    it(`${name}: 0 % loss, allocations released`, async () => {
      const p = (extra as readonly string[]).includes('tls') ? tlsPort : port;
      // Odd length: exercises ChannelData padding on TCP/TLS (RFC 8656 §12.5).
      const r = await uclient(['-p', String(p), '-W', SECRET, '-m', '4', '-n', '150', '-z', '5', '-l', '171', ...extra]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(parseUclientJson(r.stdout)).toMatchObject({ clientsFailed: 0, sent: 600, received: 600, lost: 0, duplicates: 0, corrupted: 0, allocationsReleased: 4 });
      // Refresh LIFETIME 0 really ended them (TCP/TLS allocations also end with their connection).
      await until(
        async () => ({ code: relay.listAllocations().length, signal: null, stdout: '', stderr: '' }),
        (x) => x.code === 0,
        3000,
      );
      expect(relay.listAllocations()).toHaveLength(0);
    });
  }
});

describe.skipIf(!built)('turnadmin changes reach the running relay (no restart)', () => {
  const asAlice = (password: string) => uclient(['-p', String(port), '-u', 'alice', '-w', password, '-n', '3', '-z', '5', '--timeout', '2000']);

  it('add-user → can allocate; delete-user → a new Allocate is refused (401)', async () => {
    let r = await asAlice('wonderland');
    expect(r.code).toBe(1);
    expect(parseUclientJson(r.stdout).errors).toEqual(['Allocate failed: 401 Unauthorized']);

    expect((await admin(['add-user', '-u', 'alice', '-p', 'wonderland'])).code).toBe(0);
    r = await until(() => asAlice('wonderland'), (x) => x.code === 0);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(parseUclientJson(r.stdout)).toMatchObject({ clientsFailed: 0, received: 3, lost: 0 });
    // Wrong password still refused.
    expect((await asAlice('looking-glass')).code).toBe(1);

    expect((await admin(['delete-user', '-u', 'alice'])).code).toBe(0);
    r = await until(() => asAlice('wonderland'), (x) => x.code === 1);
    expect(r.code).toBe(1);
    expect(parseUclientJson(r.stdout).errors).toEqual(['Allocate failed: 401 Unauthorized']);
  });

  it('a user of another realm is not accepted', async () => {
    expect((await admin(['add-user', '-u', 'bob', '-p', 'pw', '-r', 'other.realm'])).code).toBe(0);
    await new Promise((res) => setTimeout(res, 500));
    const r = await uclient(['-p', String(port), '-u', 'bob', '-w', 'pw', '-n', '1', '--timeout', '2000']);
    expect(r.code).toBe(1);
  });

  it('add-secret / remove-secret rotate REST secrets; mint credentials work', async () => {
    const rest = (secret: string) => uclient(['-p', String(port), '-W', secret, '-n', '3', '-z', '5', '--timeout', '2000']);
    expect((await rest('rotated-secret-0123456789')).code).toBe(1);
    expect((await admin(['add-secret', 'rotated-secret-0123456789'])).code).toBe(0);
    let r = await until(() => rest('rotated-secret-0123456789'), (x) => x.code === 0);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The configured secret stays valid alongside (rotation).
    expect((await rest(SECRET)).code).toBe(0);

    // mint uses the newest secret: the one just added (newer than TURN_SECRET).
    const minted = await admin(['mint', '-u', 'page7', '--ttl', '600']);
    expect(minted.code, minted.stderr).toBe(0);
    const cred = JSON.parse(minted.stdout) as { username: string; password: string };
    r = await uclient(['-p', String(port), '-u', cred.username, '-w', cred.password, '-n', '3', '-z', '5']);
    expect(r.code, r.stdout + r.stderr).toBe(0);

    expect((await admin(['remove-secret', 'rotated-secret-0123456789'])).code).toBe(0);
    r = await until(() => rest('rotated-secret-0123456789'), (x) => x.code === 1);
    expect(r.code).toBe(1);
  });
});

describe.skipIf(!built)('bounds and protocol checks', () => {
  it('stunclient: no answer → RFC 8489 §6.2.1 retransmissions, exit code 1', async () => {
    const dead = await freeUdpTcpPort();
    const r = await runCli('stunclient', ['127.0.0.1', '-p', String(dead), '--timeout', '1600', '--rto', '100'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/no response after 5 transmission\(s\)/); // sends at 0, 100, 300, 700, 1500 ms
    expect(r.stderr.trim()).toMatch(/^stunclient: no Binding response from 127\.0\.0\.1:\d+ \(udp\)$/);
  });

  it('uclient: --max-seconds bounds a long run, and the allocation is still released', async () => {
    const t0 = Date.now();
    const r = await uclient(['-p', String(port), '-W', SECRET, '-n', '1000', '-z', '100', '--max-seconds', '1']);
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const s = parseUclientJson(r.stdout);
    expect(s.errors.join()).toMatch(/--max-seconds/);
    // Even an aborted run releases its allocation.
    expect(s.allocationsReleased).toBe(1);
    expect(relay.listAllocations()).toHaveLength(0);
  });

  it('uclient: a success response without MESSAGE-INTEGRITY is rejected (RFC 8489 §9.2.4)', async () => {
    // A fake server: 401 with REALM/NONCE, then an Allocate success WITHOUT MESSAGE-INTEGRITY.
    const sock = createSocket('udp4');
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
    sock.on('message', (buf, rinfo) => {
      const req = decodeMessage(buf);
      const authed = req.has(AttributeType.MESSAGE_INTEGRITY);
      const tid = req.transactionId;
      const res = authed
        ? encodeMessage({ method: req.method, cls: StunClass.SuccessResponse, transactionId: tid, attributes: [Attr.xorRelayedAddress({ family: 4, address: '127.0.0.1', port: 40000 }, tid), Attr.lifetime(600)] }, { fingerprint: true })
        : encodeMessage({ method: req.method, cls: StunClass.ErrorResponse, transactionId: tid, attributes: [Attr.errorCode(401), Attr.realm('fake'), Attr.nonce('n0nce')] }, { fingerprint: true });
      sock.send(res, rinfo.port, rinfo.address);
    });
    try {
      const r = await uclient(['-p', String(sock.address().port), '-u', 'alice', '-w', 'pw', '-n', '1', '--timeout', '2000']);
      expect(r.code).toBe(1);
      expect(parseUclientJson(r.stdout).errors).toEqual(['Allocate success response without a valid MESSAGE-INTEGRITY']);
    } finally {
      sock.close();
    }
  });
});
