/**
 * The standalone relay entry (dist/turn/main.js) as the web server runs it: a forked child with IPC.
 * Needs `npm run build:server` (npm test builds first); skipped loudly otherwise.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TurnChildMessage } from '../../contracts/relayIpc.js';
import { freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';

const MAIN = path.resolve('dist/turn/main.js');
if (!existsSync(MAIN)) console.warn(`\n*** SKIPPING turn main/IPC tests: ${MAIN} missing (run npm run build:server) ***\n`);
const dir = mkdtempSync(path.join(tmpdir(), 'turn-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(extraEnv: Record<string, string> = {}): Promise<{ child: ChildProcess; first: TurnChildMessage | undefined; exit: Promise<number | null>; output: () => string }> {
  const port = await freeUdpTcpPort();
  const range = randomRelayRange(20);
  const child = fork(MAIN, [], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      ...process.env,
      TURN_LISTEN: '127.0.0.1',
      TURN_PORT: String(port),
      TURN_MIN_PORT: String(range.min),
      TURN_MAX_PORT: String(range.max),
      DATA_DIR: dir,
      CERTS_DIR: path.join(dir, 'none'),
      LOG_LEVEL: 'warn',
      ...extraEnv,
    },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const first = await Promise.race([new Promise<TurnChildMessage>((r) => child.once('message', (m: TurnChildMessage) => r(m))), exit.then(() => undefined)]);
  return { child, first, exit, output: () => out };
}

describe.skipIf(!existsSync(MAIN))('turn/main.ts over IPC', () => {
  it('sends ready, answers stats/allocations/end-allocation, exits 0 on SIGTERM', async () => {
    const { child, first, exit } = await start();
    expect(first).toMatchObject({ type: 'ready', tlsPort: null });
    const ask = (m: object) => new Promise<TurnChildMessage>((r) => (child.once('message', r), child.send(m)));
    const stats = await ask({ type: 'stats' });
    expect(stats.type === 'stats' && stats.stats.allocations.current).toBe(0);
    expect(await ask({ type: 'allocations' })).toEqual({ type: 'allocations', allocations: [] });
    expect(await ask({ type: 'end-allocation', id: 'nope' })).toEqual({ type: 'ended', id: 'nope', ok: false });
    child.send({ type: 'bogus' }); // ignored
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('exits 0 when the parent disconnects', async () => {
    const { child, exit } = await start();
    child.disconnect();
    expect(await exit).toBe(0);
  });

  it('reports a start failure (port in use) and exits 1', async () => {
    const a = await start();
    const port = (a.first as { udp: string[] }).udp[0]!.split(':')[1]!;
    const b = await start({ TURN_PORT: port });
    expect(b.first).toMatchObject({ type: 'error', message: expect.stringMatching(/EADDRINUSE/) });
    expect(await b.exit).toBe(1);
    a.child.send({ type: 'stop' });
    expect(await a.exit).toBe(0);
  });

  it('refuses an invalid configuration with a clear message', async () => {
    const { exit, output } = await start({ TURN_MIN_PORT: '60000', TURN_MAX_PORT: '50000' });
    expect(await exit).toBe(1);
    expect(output()).toMatch(/TURN_MIN_PORT/);
  });
});
