/**
 * Helpers for the CLI tests: run a built CLI (`dist/turn/cli/*.js`, `npm run build:server` first)
 * as a child process with a clean environment, and start long-running ones (the echo peer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI_DIR = path.join(ROOT, 'dist/turn/cli');

/** Path of a built CLI, e.g. `cliPath('turnadmin')`. */
export function cliPath(name: 'turnadmin' | 'stunclient' | 'uclient' | 'turnpeer' | 'turnserver'): string {
  return path.join(CLI_DIR, `${name}.js`);
}

/** Whether `npm run build:server` has produced the CLIs. */
export function clisBuilt(): boolean {
  return ['turnadmin', 'stunclient', 'uclient', 'turnpeer', 'turnserver'].every((n) => existsSync(path.join(CLI_DIR, `${n}.js`)));
}

/** The parent's environment without any TURN_* / DATA_DIR / CERTS_DIR setting, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('TURN') || k === 'DATA_DIR' || k === 'CERTS_DIR' || k === 'TURNADMIN_TEST_CRASH_BEFORE_RENAME') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Result of a finished CLI run. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a CLI to completion.
 * @param cwd        working directory (use a temp dir: no `.env` there).
 * @param timeoutMs  SIGKILL after this long (default 60 000 ms).
 */
export function runCli(name: Parameters<typeof cliPath>[0], args: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath(name), ...args], { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A long-running child (echo peer, relay...) with its output so far. */
export interface LongRunning {
  proc: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when exited. */
  stop(): Promise<void>;
}

/**
 * Spawn a command and wait until its output matches `ready` (`null`: until it has spawned), or fail
 * after `timeoutMs` (default 10 000 ms).
 * @returns the process and the regexp match.
 */
export async function spawnUntil(command: string, args: string[], ready: RegExp | null, opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<LongRunning & { match: RegExpMatchArray }> {
  const proc = spawn(command, args, { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${command} not ready after ${opts.timeoutMs ?? 10_000} ms; output: ${out.slice(-2000)}`));
    }, opts.timeoutMs ?? 10_000);
    if (ready === null) {
      proc.once('spawn', () => {
        clearTimeout(timer);
        resolve(['']);
      });
    }
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready === null) return;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before ready; output: ${out.slice(-2000)}`));
    });
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return { proc, match, output: () => out, stop };
}

/** Start our echo peer (`turnpeer`) on 127.0.0.1 and a free port; resolves with its port once bound. */
export async function startTurnPeer(cwd: string): Promise<LongRunning & { port: number }> {
  const p = await spawnUntil(process.execPath, [cliPath('turnpeer'), '-L', '127.0.0.1', '-p', '0', '--max-seconds', '600'], /listening on 127\.0\.0\.1:(\d+) \(udp\)/, { cwd });
  return { ...p, port: Number(p.match[1]) };
}

/** The JSON summary line printed by `uclient --json`. */
export interface UclientSummary {
  transport: string;
  mode: string;
  clients: number;
  clientsFailed: number;
  errors: string[];
  sent: number;
  received: number;
  lost: number;
  lossPercent: number;
  duplicates: number;
  corrupted: number;
  rttAvgMs: number;
  jitterMs: number;
  allocationsReleased: number;
}

/** Parse `uclient --json` stdout (the last line that is a JSON object). @throws when none. */
export function parseUclientJson(stdout: string): UclientSummary {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON summary in uclient output: ${stdout}`);
  return JSON.parse(line) as UclientSummary;
}
