/**
 * The standalone relay entry (dist/turn/main.js) as the web server runs it: a forked child speaking
 * the relay IPC (contracts/relayIpc.ts) — structured ready message, replies matched by request id,
 * structured log records instead of console text, revoke-user, start failures.
 * Needs `npm run build:server` (npm test builds first); skipped loudly otherwise.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hmacKey } from '../../turn/index.js';
import { freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { RELAY_MAIN, forkRelay } from './relayChild.js';

if (!existsSync(RELAY_MAIN)) console.warn(`\n*** SKIPPING turn main/IPC tests: ${RELAY_MAIN} missing (run npm run build:server) ***\n`);
const dir = mkdtempSync(path.join(tmpdir(), 'turn-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(extraEnv: Record<string, string> = {}) {
  const port = await freeUdpTcpPort();
  const range = randomRelayRange(20);
  const relay = forkRelay({
    TURN_LISTEN: '127.0.0.1',
    TURN_PORT: String(port),
    TURN_MIN_PORT: String(range.min),
    TURN_MAX_PORT: String(range.max),
    DATA_DIR: dir,
    CERTS_DIR: path.join(dir, 'none'),
    LOG_LEVEL: 'info',
    ...extraEnv,
  });
  return { ...relay, port };
}

describe.skipIf(!existsSync(RELAY_MAIN))('turn/main.ts over IPC', () => {
  it('sends a structured ready message, answers requests by id, sends log records, exits 0 on SIGTERM', async () => {
    const usersFile = path.join(dir, 'users.json');
    writeFileSync(
      usersFile,
      JSON.stringify({ version: 1, users: [{ name: 'alice', realm: 'webrtc-call', key: hmacKey('alice', 'webrtc-call', 'pw') }, { name: 'bob', realm: 'webrtc-call', key: hmacKey('bob', 'webrtc-call', 'pw') }] }),
    );
    const r = await start({ TURN_USERS_FILE: usersFile });
    expect(await r.next('ready')).toEqual({ type: 'ready', udp: [{ family: 4, address: '127.0.0.1', port: r.port }], tcpPort: r.port, tlsPort: null });
    // Replies carry the request's id; several requests in flight are told apart by it.
    const [stats, allocations, ended] = await Promise.all([r.request('stats', {}), r.request('allocations', {}), r.request('end-allocation', { allocationId: 'nope' })]);
    expect(stats).toMatchObject({ type: 'stats', stats: { allocations: { current: 0 } } });
    expect(allocations).toMatchObject({ type: 'allocations', allocations: [] });
    expect(ended).toMatchObject({ type: 'end-allocation', ended: false });
    expect(new Set([stats.id, allocations.id, ended.id]).size).toBe(3);
    // revoke-user rewrites the users file inside the relay (atomically, mode 0600).
    expect(await r.request('revoke-user', { name: 'alice' })).toMatchObject({ type: 'revoke-user', removed: true, endedAllocations: 0 });
    expect(JSON.parse(readFileSync(usersFile, 'utf8')).users.map((u: { name: string }) => u.name)).toEqual(['bob']);
    expect(statSync(usersFile).mode & 0o777).toBe(0o600);
    expect(await r.request('revoke-user', { name: 'alice' })).toMatchObject({ removed: false, endedAllocations: 0 });
    r.child.send({ type: 'bogus' }); // ignored
    // Log records arrive structured (level, category), not as console text to re-parse.
    const warn = r.messages.find((m) => m.type === 'log' && m.level === 'warn' && m.message.includes('TURN over TLS disabled'));
    expect(warn).toMatchObject({ type: 'log', level: 'warn', category: 'turn' });
    expect(r.messages.some((m) => m.type === 'log' && m.level === 'info' && /relay listening/.test(m.message))).toBe(true);
    expect(r.output()).not.toMatch(/TURN over TLS disabled/);
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  });

  it('a malformed users file: revoke-user gets a failed reply naming the problem', async () => {
    const usersFile = path.join(dir, 'broken.json');
    writeFileSync(usersFile, '{"version":1,"users":[');
    const r = await start({ TURN_USERS_FILE: usersFile });
    await r.next('ready');
    expect(await r.request('revoke-user', { name: 'alice' })).toMatchObject({ type: 'failed', request: 'revoke-user', message: expect.stringMatching(/is malformed/) });
    r.child.send({ type: 'stop' });
    expect(await r.exit).toBe(0);
  });

  it('exits 0 when the parent disconnects', async () => {
    const r = await start();
    await r.next('ready');
    r.child.disconnect();
    expect(await r.exit).toBe(0);
  });

  it('reports a start failure (port in use) and exits 1', async () => {
    const a = await start();
    await a.next('ready');
    const b = await start({ TURN_PORT: String(a.port) });
    expect(await b.next('start-failed')).toMatchObject({ type: 'start-failed', message: expect.stringMatching(/EADDRINUSE/) });
    expect(await b.exit).toBe(1);
    expect(b.messages.some((m) => m.type === 'log' && m.level === 'error' && /failed to start/.test(m.message))).toBe(true);
    a.child.send({ type: 'stop' });
    expect(await a.exit).toBe(0);
  });

  it('refuses an invalid configuration with a clear message', async () => {
    const r = await start({ TURN_MIN_PORT: '60000', TURN_MAX_PORT: '50000' });
    expect(await r.exit).toBe(1);
    expect(r.output()).toMatch(/TURN_MIN_PORT/);
  });
});
