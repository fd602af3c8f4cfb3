/**
 * Graceful shutdown: clients get `restarting`, sockets close, the port is released, the relay
 * child is stopped; `node dist/server/main.js` exits 0 on SIGTERM with its log flushed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io as ioClient } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { alive, nextEvent, startTestServer, type ClientSocket } from '../signaling/harness.js';
import { freeTcpPort } from '../helpers/ports.js';
import { httpsGet } from './httpGet.js';

const canBind = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });


describe('in-process close()', () => {
  it('sends restarting to every client, disconnects them, frees the port and stops the relay child', async () => {
    const t = await startTestServer(
      { TURN_ENABLED: 'true', TURN_SECRET: 's', TURN_PORT: '34792' },
      { relayModule: path.resolve('test/server/fixtures/fake-relay.mjs'), waitForRelayMs: 5000 },
    );
    const relayPid = t.server.relay!.status().pid!;
    const a = await t.connect();
    const b = await t.connect({ transports: ['polling'] });
    const ra = nextEvent<[string]>(a, 'restarting');
    const rb = nextEvent<[string]>(b, 'restarting');
    const da = nextEvent(a, 'disconnect');
    const closed = t.server.close('maintenance');
    expect(await ra).toEqual(['maintenance']);
    expect(await rb).toEqual(['maintenance']);
    await da;
    await closed;
    expect(await canBind(t.server.port)).toBe(true);
    expect(alive(relayPid)).toBe(false);
    expect(t.server.readiness().https).toBe(false);
    await t.stop(); // idempotent
  });
});

const mainJs = path.resolve('dist/server/main.js');
const built = existsSync(mainJs);
if (!built) console.warn(`SKIPPED: ${mainJs} missing — run "npm run build:server" (npm test does) to test the entry point`);

describe.skipIf(!built)('dist/server/main.js', () => {
  it('serves, then on SIGTERM tells clients restarting, exits 0 and flushes its log', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-main-'));
    const port = await freeTcpPort();
    const child = spawn(process.execPath, [mainJs], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HTTPS_HOST: '127.0.0.1',
        HTTPS_PORT: String(port),
        CERTS_DIR: path.join(dir, 'certs'),
        DATA_DIR: path.join(dir, 'data'),
        LOG_DIR: path.join(dir, 'logs'),
        TURN_ENABLED: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let socket: ClientSocket | undefined;
    try {
      const url = `https://127.0.0.1:${port}`;
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ok = await httpsGet(`${url}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) throw new Error('server did not become healthy');
        await new Promise((r) => setTimeout(r, 100));
      }
      socket = ioClient(url, { transports: ['websocket'], rejectUnauthorized: false, reconnection: false, forceNew: true });
      await nextEvent(socket, 'connect');
      const restarting = nextEvent<[string]>(socket, 'restarting');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect((await restarting)[0]).toMatch(/SIGTERM/);
      expect(await exited).toBe(0);
      const log = readFileSync(path.join(dir, 'logs', 'server.log'), 'utf8');
      expect(log).toMatch(/listening on 127\.0\.0\.1:\d+/);
      expect(log).toMatch(/stopped/);
    } finally {
      socket?.disconnect();
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
