/**
 * Start the real server the way `npm start` runs it (`node dist/server/main.js`, HTTPS with a
 * self-signed certificate, the embedded relay as a child process) on free loopback ports, for
 * integration and browser tests. `npm run build` must have run (the `npm test` script does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freeTcpPort, freeUdpTcpPort, randomRelayRange } from './ports.js';

/** The repository root (from test/helpers/, or from dist/test/helpers/ when a benchmark compiled this file). */
export const ROOT = path.resolve(import.meta.dirname, path.basename(path.resolve(import.meta.dirname, '../..')) === 'dist' ? '../../..' : '../..');
export const SERVER_MAIN = path.join(ROOT, 'dist/server/main.js');

/** The tester token (`ICE_TOKEN`) servers started by {@link startServer} accept on `GET /api/ice-servers`. */
export const TEST_ICE_TOKEN = 'test-ice-token-0123456789abcdef';

/** `Authorization` header carrying {@link TEST_ICE_TOKEN}. */
export const ICE_AUTH = { authorization: `Bearer ${TEST_ICE_TOKEN}` };

/** A running server process. */
export interface RunningServer {
  /** `https://127.0.0.1:PORT` (or `https://<probeHost>:PORT`; no trailing slash). */
  url: string;
  httpsPort: number;
  /** TURN UDP/TCP port of the embedded relay. */
  turnPort: number;
  /** TURN TLS port of the embedded relay. */
  turnTlsPort: number;
  /** The environment the process was started with (all values strings). */
  env: Record<string, string>;
  proc: ChildProcess;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM, wait for exit (SIGKILL after `timeoutMs`, default 10 000 ms); removes the temp dirs unless `keepDirs`. Returns the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Send a signal without waiting. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

export interface StartServerOptions {
  /** Extra/overriding environment variables (e.g. `{ TURN_DEFAULT_LIFETIME: '10' }`). */
  env?: Record<string, string>;
  /** Reuse these ports/dirs (e.g. to restart a server "in place"); otherwise fresh ones. */
  reuse?: Pick<RunningServer, 'env'>;
  /** Wait for `/readyz` (relay up too) instead of `/healthz`. Default true. */
  waitReady?: boolean;
  /** Give up after this many ms. Default 30 000. */
  timeoutMs?: number;
  /** Command prefix, e.g. `['ip', 'netns', 'exec', 'pub']` to run inside a network namespace. */
  prefix?: string[];
  /** Host to poll for readiness (default 127.0.0.1); also the host of the returned `url`. */
  probeHost?: string;
  /**
   * Readiness check used instead of an HTTPS GET from this process, e.g. one run inside a network
   * namespace the test process has no route into. Resolves with the HTTP status (0: unreachable).
   */
  probe?: (url: string, timeoutMs: number) => Promise<number>;
}

/**
 * GET a URL over HTTPS, accepting the self-signed certificate.
 * @returns status, headers and body text.
 * @throws on connection errors or after `timeoutMs` (default 5 000 ms).
 */
export function httpsGet(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 5000,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false, headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
  });
}

/**
 * Spawn `node dist/server/main.js` on free loopback ports with temp CERTS_DIR/DATA_DIR/LOG_DIR and
 * a relay that allows loopback peers, then wait until `/readyz` (or `/healthz`) answers 200.
 * @throws Error with the server's output when it exits early or is not ready within `timeoutMs`.
 */
export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  let env: Record<string, string>;
  if (opts.reuse) {
    env = { ...opts.reuse.env, ...opts.env };
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-test-'));
    const range = randomRelayRange(200);
    env = {
      HTTPS_HOST: '127.0.0.1',
      HTTPS_PORT: String(await freeTcpPort()),
      TURN_LISTEN: '127.0.0.1',
      TURN_PORT: String(await freeUdpTcpPort()),
      TURN_TLS_PORT: String(await freeTcpPort()),
      TURN_MIN_PORT: String(range.min),
      TURN_MAX_PORT: String(range.max),
      TURN_ALLOWED_PEERS: '127.0.0.0/8',
      TURN_REALM: 'test.example.org',
      ICE_TOKEN: TEST_ICE_TOKEN,
      CERTS_DIR: path.join(dir, 'certs'),
      DATA_DIR: path.join(dir, 'data'),
      LOG_DIR: path.join(dir, 'logs'),
      LOG_LEVEL: 'info',
      TEST_TMP_DIR: dir,
      ...opts.env,
    };
  }
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
  const cmd = [...(opts.prefix ?? []), process.execPath, SERVER_MAIN];
  const proc = spawn(cmd[0]!, cmd.slice(1), { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const httpsPort = Number(env.HTTPS_PORT);
  const url = `https://${opts.probeHost ?? '127.0.0.1'}:${httpsPort}`;
  const probe = `https://${opts.probeHost ?? '127.0.0.1'}:${httpsPort}${opts.waitReady === false ? '/healthz' : '/readyz'}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (hasExited) throw new Error(`server exited before it was ready:\n${out}`);
    try {
      const status = opts.probe ? await opts.probe(probe, 1000) : (await httpsGet(probe, {}, 1000)).status;
      if (status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`server not ready within ${opts.timeoutMs ?? 60_000} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }

  return {
    url,
    httpsPort,
    turnPort: Number(env.TURN_PORT),
    turnTlsPort: Number(env.TURN_TLS_PORT),
    env,
    proc,
    exited,
    output: () => out,
    kill: (signal = 'SIGTERM') => {
      if (!hasExited) proc.kill(signal);
    },
    async stop(timeoutMs = 10_000) {
      if (!hasExited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(t);
      }
      return exited;
    },
  };
}

/** Remove the temp directory a server was started with (after `stop()`). */
export function removeServerDirs(server: Pick<RunningServer, 'env'>): void {
  if (server.env.TEST_TMP_DIR) rmSync(server.env.TEST_TMP_DIR, { recursive: true, force: true });
}
