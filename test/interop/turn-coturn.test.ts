/**
 * Interop with coturn's clients against OUR relay (dist/turn/main.js as a forked child process,
 * like the web server runs it), on the native and on the JavaScript data path (TURN_DATA_PATH):
 * turnutils_stunclient, and turnutils_uclient through the relay to turnutils_peer over channels,
 * Send indications, TCP and TLS, with TURN REST credentials (-W) and a static user from a users
 * file (-u/-w). Each run must report 0 % loss.
 *
 * Needs `npm run build:server` first (npm test does it). Skipped, loudly, without coturn's binaries.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacKey } from '../../turn/index.js';
import { freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { eachDataPath } from '../turn/helpers.js';
import { RELAY_MAIN, forkRelay, type RelayChild } from './relayChild.js';

const BINARIES = ['turnutils_uclient', 'turnutils_peer', 'turnutils_stunclient'];
const binDirs = (process.env.PATH ?? '/usr/bin').split(':');
const missing = BINARIES.filter((b) => !binDirs.some((d) => existsSync(path.join(d, b))));
const skipReason = missing.length > 0 ? `coturn client binaries missing: ${missing.join(', ')} (apt-get install coturn)` : !existsSync(RELAY_MAIN) ? `${RELAY_MAIN} missing: run npm run build:server` : '';
if (skipReason) console.warn(`\n*** SKIPPING turn-coturn interop tests: ${skipReason} ***\n`);

const REALM = 'interop.test';
const SECRET = 'interop-secret';

let dir: string;
let relay: RelayChild | undefined;
let peer: ChildProcess | undefined;
let udpPort: number;
let tlsPort: number;
let peerPort: number;

function run(cmd: string, args: string[], timeoutMs = 100_000): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => resolve(`${stdout}${stderr}${err ? `\n[exit: ${err.message}]` : ''}`));
  });
}

/** Each uclient run: clients (-m), messages per client (-n), at one message per 5 ms (-z 5). */
const CLIENTS = 10;
const MESSAGES = 400;

/** Run turnutils_uclient and return its loss figures and raw output. */
async function uclient(extra: string[], port = udpPort, messages = MESSAGES, clients = CLIENTS): Promise<{ lost: number; percent: number; sent: number; received: number; out: string }> {
  const args = [...extra, '-p', String(port), '-e', '127.0.0.1', '-r', String(peerPort), '-X', '-g', '-z', '5', '-n', String(messages), '-m', String(clients), '-l', '170', '127.0.0.1'];
  const out = await run('turnutils_uclient', args);
  const loss = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(out);
  const totals = [...out.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/gm)].at(-1);
  if (!loss || !totals) throw new Error(`could not parse turnutils_uclient output (args ${args.join(' ')}):\n${out.slice(-3000)}`);
  return { lost: Number(loss[1]), percent: Number(loss[2]), sent: Number(totals[1]), received: Number(totals[2]), out };
}

eachDataPath((dataPath) => {
  describe.skipIf(skipReason !== '')(`interop with coturn clients (our relay as a child process, ${dataPath} data path)`, () => {
    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'turn-interop-'));
      const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, days: 1 } as never);
      writeFileSync(path.join(dir, 'cert.pem'), pems.cert);
      writeFileSync(path.join(dir, 'key.pem'), pems.private);
      writeFileSync(
        path.join(dir, 'users.json'),
        JSON.stringify({ version: 1, users: [{ name: 'alice', realm: REALM, key: hmacKey('alice', REALM, 'wonderland') }], secrets: [] }),
      );
      udpPort = await freeUdpTcpPort();
      tlsPort = await freeUdpTcpPort();
      peerPort = await freeUdpTcpPort();
      const range = randomRelayRange(400);
      peer = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(peerPort)], { stdio: 'ignore' });
      relay = forkRelay({
        TURN_REALM: REALM,
        TURN_SECRET: SECRET,
        TURN_USERS_FILE: path.join(dir, 'users.json'),
        TURN_LISTEN: '127.0.0.1',
        TURN_PORT: String(udpPort),
        TURN_TLS_PORT: String(tlsPort),
        TURN_TLS_CERT: path.join(dir, 'cert.pem'),
        TURN_TLS_KEY: path.join(dir, 'key.pem'),
        TURN_MIN_PORT: String(range.min),
        TURN_MAX_PORT: String(range.max),
        TURN_ALLOWED_PEERS: '127.0.0.0/8',
        // turnutils_uclient opens 2 allocations per client under one username, and picks channel
        // numbers from the RFC 5766 range 0x4000-0x7FFF.
        TURN_USER_QUOTA: '0',
        TURN_CHANNEL_RANGE: 'rfc5766',
        DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        TURN_DATA_PATH: dataPath,
      });
      expect(await relay.next('ready')).toEqual({ type: 'ready', udp: [{ family: 4, address: '127.0.0.1', port: udpPort }], tcpPort: udpPort, tlsPort });
      await new Promise((r) => setTimeout(r, 200)); // let turnutils_peer bind
    });

    afterAll(async () => {
      if (relay && relay.child.exitCode === null) {
        relay.child.send({ type: 'stop' });
        expect(await relay.exit).toBe(0);
      }
      peer?.kill('SIGTERM');
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('turnutils_stunclient gets our XOR-MAPPED-ADDRESS', async () => {
      const out = await run('turnutils_stunclient', ['-p', String(udpPort), '127.0.0.1'], 20_000);
      expect(out).toMatch(/UDP reflexive addr: 127\.0\.0\.1:\d+/);
    });

    it('uclient over UDP with channels, TURN REST credentials (-W): 0 % loss', async () => {
      const r = await uclient(['-W', SECRET]);
      expect(r.sent).toBe(MESSAGES * CLIENTS);
      expect(r.received).toBe(MESSAGES * CLIENTS);
      expect(r.lost, r.out.slice(-1500)).toBe(0);
      expect(r.percent).toBe(0);
    });

    it('uclient over UDP with Send/Data indications (-s), static user (-u/-w): 0 % loss', async () => {
      const r = await uclient(['-s', '-u', 'alice', '-w', 'wonderland']);
      expect(r.received).toBe(MESSAGES * CLIENTS);
      expect(r.lost, r.out.slice(-1500)).toBe(0);
    });

    it('uclient over TCP (-t): 0 % loss', async () => {
      const r = await uclient(['-t', '-W', SECRET]);
      expect(r.received).toBe(MESSAGES * CLIENTS);
      expect(r.lost, r.out.slice(-1500)).toBe(0);
    });

    it('uclient over TLS (-t -S): 0 % loss', async () => {
      const r = await uclient(['-t', '-S', '-u', 'alice', '-w', 'wonderland'], tlsPort);
      expect(r.received).toBe(MESSAGES * CLIENTS);
      expect(r.lost, r.out.slice(-1500)).toBe(0);
    });

    it('a wrong password cannot allocate, and the relay counted it', async () => {
      const out = await run('turnutils_uclient', ['-u', 'alice', '-w', 'wrong', '-p', String(udpPort), '-e', '127.0.0.1', '-r', String(peerPort), '-n', '1', '-m', '1', '127.0.0.1'], 30_000);
      expect(out).toMatch(/Cannot complete Allocation|error 401/i);
      const reply = await relay!.request('stats', {});
      if (reply.type !== 'stats') throw new Error(`stats failed: ${JSON.stringify(reply)}`);
      const { stats } = reply;
      expect(stats.auth.failures.bad_integrity).toBeGreaterThan(0);
      expect(stats.internalErrors).toBe(0);
      expect(stats.allocations.created).toBeGreaterThanOrEqual(40);
      // The runs above went through the data path this suite asked for, and it counted them.
      expect(stats.dataPath.kind).toBe(dataPath);
      expect(stats.relayed.clientToPeer.packets).toBeGreaterThanOrEqual(4 * MESSAGES * CLIENTS);
      expect(stats.relayed.peerToClient.packets).toBeGreaterThanOrEqual(4 * MESSAGES * CLIENTS);
    });
  });
});
