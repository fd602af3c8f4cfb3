/**
 * Self-test of the NAT lab (test/natlab/lab.ts) with coturn as an independent reference: coturn's
 * `turnserver` runs in the lab's public namespace; coturn's clients (`turnutils_natdiscovery`,
 * `turnutils_stunclient`, `turnutils_uclient`) run behind the routers. Checks RFC 4787/5780 NAT
 * behaviour (mapping per destination, filtering), the firewall presets, cut()/restore() and teardown.
 *
 * Ports inside the lab are fixed: the lab's namespaces are private, nothing else listens there.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_ADDR, NatLab, labUnavailableReason, sweepStaleLabs, warnLabSkipped, type LabNode } from './lab.js';

const COTURN_BINS = ['turnserver', 'turnutils_stunclient', 'turnutils_uclient', 'turnutils_natdiscovery', 'turnutils_peer'];
const missingBins = COTURN_BINS.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
const labReason = labUnavailableReason();
const skipReason = labReason ?? (missingBins.length ? `coturn tools missing: ${missingBins.join(', ')} (apt-get install coturn)` : null);
if (skipReason) warnLabSkipped(skipReason, 'NAT lab self-test (test/natlab/lab.test.ts)');
const haveOpenssl = spawnSync('sh', ['-c', 'command -v openssl']).status === 0;

const S = LAB_ADDR.server;
const TURN_PORT = 3478;
const ALT_PORT = 3479;
const TLS_PORT = 5349;
const ECHO_PORT = 3480;
const USER = 'alice';
const PASS = 'lab-secret';

/** `UDP reflexive addr: IP:PORT` lines printed by coturn's STUN clients. */
function reflexiveAddrs(out: string): string[] {
  return [...out.matchAll(/UDP reflexive addr: *([\d.]+:\d+)/g)].map((m) => m[1]!);
}

/** Loss and bytes received from `turnutils_uclient` output. */
function uclientResult(out: string): { lost: number; recvBytes: number } | null {
  // Progress lines come first; the totals are the last occurrences.
  const lost = [...out.matchAll(/Total lost packets (\d+)/g)].at(-1);
  const recv = [...out.matchAll(/tot_recv_bytes ~ (\d+)/g)].at(-1);
  if (!lost || !recv) return null;
  return { lost: Number(lost[1]), recvBytes: Number(recv[1]) };
}

/**
 * Most bytes `turnutils_uclient` reported as echoed back so far (its progress lines), 0 if none.
 * Used for TCP/TLS, where coturn 4.6.1's uclient sometimes loses a few echoes and then waits for
 * them until killed (unrelated to the lab): "echoes came back" is what proves the path is open.
 */
function echoedBytes(out: string): number {
  return Math.max(0, ...[...out.matchAll(/tot_recv_bytes ~ (\d+)/g)].map((m) => Number(m[1])));
}

describe.skipIf(!!skipReason)(`NAT lab self-test with coturn${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  let lab: NatLab;
  let turnserver: ChildProcess;
  let turnLog = '';
  let certDir: string | undefined;

  const stun = (node: LabNode, timeoutMs = 3000) => lab.run(node, ['turnutils_stunclient', '-p', String(TURN_PORT), S], { timeoutMs });
  const natdiscovery = (node: LabNode, flag: '-m' | '-f') => lab.run(node, ['turnutils_natdiscovery', flag, '-p', String(TURN_PORT), S], { timeoutMs: 15_000 });
  const uclient = (node: LabNode, extra: string[], port = TURN_PORT, timeoutMs = 15_000) =>
    lab.run(node, ['turnutils_uclient', ...extra, '-u', USER, '-w', PASS, '-p', String(port), '-e', S, '-r', String(ECHO_PORT), '-X', '-n', '40', '-z', '5', '-m', '1', '-l', '170', S], { timeoutMs });

  beforeAll(async () => {
    lab = new NatLab({ natA: 'port-preserving', natB: 'symmetric' });
    await lab.setup();
    const tls: string[] = ['--no-tls'];
    if (haveOpenssl) {
      certDir = mkdtempSync(path.join(tmpdir(), 'natlab-cert-'));
      const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${S}`,
        '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')], { encoding: 'utf8' });
      if (gen.status === 0) tls.splice(0, 1, `--tls-listening-port=${TLS_PORT}`, `--cert=${path.join(certDir, 'cert.pem')}`, `--pkey=${path.join(certDir, 'key.pem')}`);
    }
    // Two listening addresses + an alternate port make coturn answer RFC 5780 behaviour discovery.
    turnserver = lab.spawn('pub', ['turnserver', '-n', `--listening-ip=${S}`, `--listening-ip=${LAB_ADDR.serverAlt}`, `--listening-port=${TURN_PORT}`,
      `--alt-listening-port=${ALT_PORT}`, `--relay-ip=${S}`, '--min-port=40000', '--max-port=40999', '--lt-cred-mech', `--user=${USER}:${PASS}`,
      '--realm=lab.example.org', ...tls, '--no-dtls', '--no-cli', '--log-file=stdout', '--simple-log']);
    turnserver.stdout!.on('data', (d: Buffer) => (turnLog += d.toString()));
    turnserver.stderr!.on('data', (d: Buffer) => (turnLog += d.toString()));
    lab.spawn('pub', ['turnutils_peer', '-L', S, '-p', String(ECHO_PORT)]);
    // Ready when a Binding request from inside pub is answered.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await stun('pub', 1000);
      if (reflexiveAddrs(r.stdout).length > 0) break;
      if (Date.now() > deadline) throw new Error(`coturn not answering in the lab:\n${turnLog}`);
    }
  });

  afterAll(() => {
    const names = lab ? Object.values(lab.ns) : [];
    lab?.teardown();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
    // Nothing of ours may remain.
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const n of names) expect(left).not.toContain(n);
  });

  it('builds the topology: IPv6 off everywhere, peers routed through their routers, blackhole default in pub', async () => {
    for (const node of ['pub', 'ra', 'rb', 'a', 'b'] as const) {
      const r = await lab.run(node, ['cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6', '/proc/sys/net/ipv6/conf/default/disable_ipv6']);
      expect(r.stdout.split(/\s+/).filter(Boolean), node).toEqual(['1', '1']);
      const addrs = await lab.run(node, ['ip', '-6', 'addr']);
      expect(addrs.stdout.trim(), node).toBe('');
    }
    expect((await lab.run('a', ['ip', 'route', 'get', S])).stdout).toContain(`via ${LAB_ADDR.raLan}`);
    expect((await lab.run('b', ['ip', 'route', 'get', S])).stdout).toContain(`via ${LAB_ADDR.rbLan}`);
    expect((await lab.run('pub', ['ip', 'route', 'get', LAB_ADDR.a])).stdout).toContain(`via ${LAB_ADDR.blackhole}`);
    // A send to an unroutable (private) address from pub succeeds locally and vanishes: no ENETUNREACH.
    const send = await lab.run('pub', [process.execPath, '-e',
      `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('x'),9,'${LAB_ADDR.a}',(e)=>{console.log(e?e.code:'sent');s.close();});`]);
    expect(send.stdout.trim()).toBe('sent');
  });

  it('peers get their router WAN address as server-reflexive address', async () => {
    const [a, b] = await Promise.all([stun('a'), stun('b')]);
    expect(reflexiveAddrs(a.stdout)[0]).toMatch(new RegExp(`^${LAB_ADDR.raWan.replace(/\./g, '\\.')}:\\d+$`));
    expect(reflexiveAddrs(b.stdout)[0]).toMatch(new RegExp(`^${LAB_ADDR.rbWan.replace(/\./g, '\\.')}:\\d+$`));
  });

  it('port-preserving NAT maps endpoint-independently; symmetric NAT maps per destination (RFC 5780 discovery)', async () => {
    const [a, b] = await Promise.all([natdiscovery('a', '-m'), natdiscovery('b', '-m')]);
    expect(a.stdout, a.stdout).toContain('NAT with Endpoint Independent Mapping');
    const aMapped = new Set(reflexiveAddrs(a.stdout));
    expect(aMapped.size, a.stdout).toBe(1); // same mapping towards both server addresses/ports
    expect(b.stdout, b.stdout).toContain('NAT with Address and Port Dependent Mapping');
    const bMapped = reflexiveAddrs(b.stdout);
    expect(new Set(bMapped).size, b.stdout).toBeGreaterThan(1); // a new mapping per destination
    expect(bMapped.every((m) => m.startsWith(`${LAB_ADDR.rbWan}:`))).toBe(true);
  });

  it('routers filter unsolicited inbound traffic (address-and-port-dependent filtering)', async () => {
    const a = await natdiscovery('a', '-f');
    expect(a.stdout, a.stdout).toContain('NAT with Address and Port Dependent Filtering');
  });

  it('setNat switches a router between port-preserving and symmetric at run time', async () => {
    lab.setNat('a', 'symmetric');
    try {
      const r = await natdiscovery('a', '-m');
      expect(r.stdout, r.stdout).toContain('Address and Port Dependent Mapping');
    } finally {
      lab.setNat('a', 'port-preserving');
    }
    const back = await natdiscovery('a', '-m');
    expect(back.stdout, back.stdout).toContain('Endpoint Independent Mapping');
  });

  it('both peers relay through coturn over UDP with 0 % loss', async () => {
    const [a, b] = await Promise.all([uclient('a', ['-g']), uclient('b', ['-g'])]);
    for (const [name, r] of [['a', a], ['b', b]] as const) {
      const res = uclientResult(r.stdout);
      expect(res, `${name}: ${r.stdout}${r.stderr}`).not.toBeNull();
      expect(res!.lost, name).toBe(0);
      expect(res!.recvBytes, name).toBeGreaterThan(0);
    }
  });

  it('block-udp-except-none: UDP to the relay is dropped, TURN over TCP works', async () => {
    lab.setFirewall('a', 'block-udp-except-none', { turnPort: TURN_PORT });
    try {
      const s = await stun('a');
      expect(s.timedOut, s.stdout).toBe(true);
      expect(reflexiveAddrs(s.stdout)).toEqual([]);
      const t = await uclient('a', ['-t'], TURN_PORT, 10_000);
      expect(echoedBytes(t.stdout), t.stdout + t.stderr).toBeGreaterThan(0);
      // B's router is untouched.
      expect(reflexiveAddrs((await stun('b')).stdout).length).toBeGreaterThan(0);
    } finally {
      lab.setFirewall('a', 'open');
    }
    expect(reflexiveAddrs((await stun('a')).stdout).length).toBeGreaterThan(0);
  });

  it.skipIf(!haveOpenssl)('tls-only: TURN over TCP is dropped, TURN over TLS works', async () => {
    expect(turnLog).not.toMatch(/cannot.*(cert|key)/i);
    lab.setFirewall('a', 'tls-only', { turnTlsPort: TLS_PORT });
    try {
      const [tcp, tlsRun, udp] = await Promise.all([
        uclient('a', ['-t'], TURN_PORT, 4000),
        uclient('a', ['-t', '-S'], TLS_PORT, 10_000),
        stun('a'),
      ]);
      expect(echoedBytes(tcp.stdout), tcp.stdout).toBe(0);
      expect(udp.timedOut).toBe(true);
      expect(echoedBytes(tlsRun.stdout), tlsRun.stdout + tlsRun.stderr).toBeGreaterThan(0);
    } finally {
      lab.setFirewall('a', 'open');
    }
  });

  it('cut() drops all of A\'s traffic until restore(); B is unaffected', async () => {
    lab.cut('a');
    try {
      const [a, b] = await Promise.all([stun('a'), stun('b')]);
      expect(a.timedOut).toBe(true);
      expect(reflexiveAddrs(a.stdout)).toEqual([]);
      expect(reflexiveAddrs(b.stdout).length).toBeGreaterThan(0);
    } finally {
      lab.restore('a');
    }
    expect(reflexiveAddrs((await stun('a')).stdout).length).toBeGreaterThan(0);
  });

  it('teardown kills what runs inside and deletes every namespace (idempotent)', async () => {
    const extra = new NatLab({ prefix: 'natlabtd' });
    await extra.setup();
    expect(extra.remainingNamespaces().length).toBe(5);
    const sleeper = extra.spawn('a', ['sleep', '60']);
    const exited = new Promise((r) => sleeper.once('exit', r));
    extra.teardown();
    extra.teardown();
    await exited;
    expect(extra.remainingNamespaces()).toEqual([]);
    expect(existsSync(`/run/netns/${extra.ns.pub}`)).toBe(false);
  });

  it('sweepStaleLabs deletes namespaces left by a dead run, not those of a live one', () => {
    const deadPid = spawnSync('true').pid;
    const stale = `natlabsw-${deadPid}-00beef-pub`;
    const live = `natlabsw-${process.pid}-00beef-pub`;
    for (const n of [stale, live]) expect(spawnSync('ip', ['netns', 'add', n]).status).toBe(0);
    try {
      expect(sweepStaleLabs('natlabsw')).toEqual([stale]);
      const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      expect(left).not.toContain(stale);
      expect(left).toContain(live);
    } finally {
      for (const n of [stale, live]) spawnSync('ip', ['netns', 'del', n]);
    }
  });
});
