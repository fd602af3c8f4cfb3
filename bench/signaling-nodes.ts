/**
 * Server side of `bench/signaling.ts` (not run directly): starts and stops the real server
 * (`node dist/server/main.js`, HTTPS, relay off) and a throwaway redis-server, every child with the
 * open-file limit raised as far as this machine allows, and reads the figures a server exposes on
 * `/metrics` (event-loop delay, heap, external memory).
 * Everything listens on 127.0.0.1 only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort } from '../test/helpers/ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER_MAIN = path.resolve(here, '../server/main.js');
const BARE_MAIN = path.resolve(here, 'signaling-bare.js');
/** The open-file limit asked for (the hard limit may be lower; see {@link effectiveFdLimit}). */
export const FD_LIMIT = 65536;

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** SIGKILL every child still running and remove the temp dirs (call on exit). */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}

/** Spawn `cmd` with the fd limit raised (through sh: `ulimit -n`); tracked for {@link killAll}. */
export function spawnWithFds(cmd: string[], env: NodeJS.ProcessEnv, ipc = false): ChildProcess {
  const line = `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${cmd.map((c) => `'${c.replace(/'/g, `'\\''`)}'`).join(' ')}`;
  const child = spawn('sh', ['-c', line], { env, stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The fd limit a spawned process really gets (raising the hard limit needs CAP_SYS_RESOURCE). */
export function effectiveFdLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); ulimit -n`], { encoding: 'utf8' }).trim());
  } catch {
    return NaN;
  }
}

/** GET `url` (self-signed certificate accepted); status 0 on error or timeout (ms). */
export function getText(url: string, timeoutMs = 1000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}

/** What one scrape of a server's `/metrics` says (NaN when the scrape failed). */
export interface ServerMetrics {
  /** Event-loop delay since the previous scrape (prom-client resets it at each scrape), ms. */
  loopP50: number;
  loopP99: number;
  loopMax: number;
  /** V8 heap used and external (ArrayBuffers, native objects V8 knows of), MB. */
  heapUsedMb: number;
  externalMb: number;
}

/** Scrape `/metrics` of a server (10 s timeout). */
export async function scrape(url: string): Promise<ServerMetrics> {
  const { body } = await getText(`${url}/metrics`, 10_000);
  const v = (name: string) => Number(new RegExp(`^webrtc_${name} (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
  return {
    loopP50: v('nodejs_eventloop_lag_p50_seconds') * 1000,
    loopP99: v('nodejs_eventloop_lag_p99_seconds') * 1000,
    loopMax: v('nodejs_eventloop_lag_max_seconds') * 1000,
    heapUsedMb: v('nodejs_heap_size_used_bytes') / 2 ** 20,
    externalMb: v('nodejs_external_memory_bytes') / 2 ** 20,
  };
}

/** A running server node. */
export interface Node {
  /** `https://127.0.0.1:PORT`: readiness, /metrics. */
  url: string;
  /** Where the load generators connect: {@link url}, or `http://127.0.0.1:PORT` of the proxy listener (`plain`). */
  clientUrl: string;
  proc: ChildProcess;
  dir: string;
  output: () => string;
}

/** Options of {@link startNode}. */
export interface NodeOptions {
  /** Extra node arguments (e.g. `--cpu-prof`). */
  nodeArgs: string[];
  /** Append the server's stdout/stderr to this file ('' = do not). */
  outputFile: string;
  env: Record<string, string>;
  /** Run the bare Socket.IO reference server (`signaling-bare.ts`) instead of the real one. */
  bare?: boolean;
  /**
   * Also listen on plain HTTP (PROXY_HTTP_PORT, as behind a TLS-terminating reverse proxy) and
   * have the clients connect there.
   */
  plain?: boolean;
}

/**
 * Start `node dist/server/main.js` (or the bare reference server) on a free loopback port with
 * throwaway directories.
 * @throws Error with the server's output when it is not ready within 30 s.
 */
export async function startNode(options: NodeOptions): Promise<Node> {
  const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-bench-'));
  tempDirs.add(dir);
  const port = await freeTcpPort();
  const plainPort = options.plain ? await freeTcpPort() : undefined;
  const env = {
    PATH: process.env.PATH,
    HTTPS_HOST: '127.0.0.1',
    HTTPS_PORT: String(port),
    TURN_ENABLED: 'false',
    CERTS_DIR: path.join(dir, 'certs'),
    DATA_DIR: path.join(dir, 'data'),
    LOG_DIR: path.join(dir, 'logs'),
    LOG_LEVEL: 'warn',
    // Every load-generator socket comes from 127.0.0.1: the per-address join limit would refuse
    // all but the first JOIN_RATE_BURST joins of a run.
    JOIN_RATE_BURST: '0',
    ...(plainPort !== undefined ? { PROXY_HTTP_PORT: String(plainPort), PROXY_HTTP_HOST: '127.0.0.1' } : {}),
    ...options.env,
  };
  const proc = spawnWithFds([process.execPath, ...options.nodeArgs, options.bare ? BARE_MAIN : SERVER_MAIN], env);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
    if (options.outputFile) appendFileSync(options.outputFile, d);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await getText(`${url}/readyz`)).status !== 200) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const clientUrl = plainPort !== undefined ? `http://127.0.0.1:${plainPort}` : url;
  return { url, clientUrl, proc, dir, output: () => out };
}

/**
 * SIGTERM a node and wait for it (SIGKILL after `graceMs`: give a profiling server time to write
 * its profile), then remove its directories.
 */
export async function stopNode(n: Node, graceMs = 10_000): Promise<void> {
  if (n.proc.exitCode === null) {
    n.proc.kill('SIGTERM');
    const t = setTimeout(() => n.proc.kill('SIGKILL'), graceMs);
    await new Promise((r) => n.proc.once('exit', r));
    clearTimeout(t);
  }
  rmSync(n.dir, { recursive: true, force: true });
  tempDirs.delete(n.dir);
}

/**
 * Make a node started with `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>` write a heap
 * snapshot, and wait until it is written (the server answers again and the file stops growing;
 * at most `timeoutMs`).
 * @returns the snapshot path, or undefined when none appeared.
 */
export async function heapSnapshot(n: Node, dir: string, timeoutMs = 300_000): Promise<string | undefined> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  n.proc.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let file: string | undefined;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    file ??= readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = statSync(path.join(dir, file)).size;
    if (size > 0 && size === lastSize && (await getText(`${n.url}/readyz`, 5000)).status === 200) return path.join(dir, file);
    lastSize = size;
  }
  return file && path.join(dir, file);
}

/** A throwaway redis-server on a free loopback port (no persistence). */
export async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freeTcpPort();
  const proc = spawnWithFds(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '1000'], { PATH: process.env.PATH });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.write('PING\r\n');
        s.once('data', (d) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `redis://127.0.0.1:${port}`, proc };
}

/** SIGKILL a redis-server from {@link startRedis} and wait for it. */
export async function stopRedis(redis: { proc: ChildProcess }): Promise<void> {
  if (redis.proc.exitCode !== null) return;
  redis.proc.kill('SIGKILL');
  await new Promise((r) => redis.proc.once('exit', r));
}
