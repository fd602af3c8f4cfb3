/**
 * README's relay and admin commands, run verbatim on a default install: a fresh copy of the project
 * (what a clone holds, plus what `npm ci` adds: node_modules linked, the native addon; no dist/,
 * data/, certs/ or .env), the
 * fenced `sh` blocks marked `<!-- test: NAME -->` in README.md extracted and run by bash exactly as
 * printed, on the default ports (3478, 5349 and 3480 must be free). First, before any build, every
 * command (`npx turnserver`, `turnadmin`, `stunclient`, `uclient`, `turnpeer`) must run ours — never
 * coturn's program of the same name, which is installed too. Skipped, loudly, without coturn's
 * binaries (the recipes use turnutils_uclient).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const binDirs = (process.env.PATH ?? '/usr/bin').split(':');
const missing = ['turnutils_uclient', 'turnadmin', 'turnserver'].filter((b) => !binDirs.some((d) => existsSync(path.join(d, b))));
const skipReason = missing.length > 0 ? `coturn binaries missing: ${missing.join(', ')} (apt-get install coturn)` : '';
if (skipReason) console.warn(`\n*** SKIPPING README relay recipe tests: ${skipReason} ***\n`);

/** The fenced sh blocks of README marked `<!-- test: NAME -->`, by name. */
function readmeBlocks(): Map<string, string> {
  const text = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = new Map<string, string>();
  for (const m of text.matchAll(/<!-- test: ([\w-]+) -->\n```sh\n([\s\S]*?)```/g)) blocks.set(m[1]!, m[2]!);
  return blocks;
}

let mirror: string;
const groups: ChildProcess[] = [];
/** A default user's environment: no TURN_*, DATA_DIR, npm_* or .env settings of the test run. */
const userEnv = (): NodeJS.ProcessEnv => ({ PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME, LANG: 'C.UTF-8' });

interface Shell {
  proc: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
}

/** Run `script` with `bash -euo pipefail` in the copy, in a process group of its own (killed at the end). */
function sh(script: string): Shell {
  const proc = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: mirror, env: userEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.push(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // 'exit', not 'close': a command left running in the background (`npx turnpeer … &`) keeps the
  // output pipes open after bash is done. Its output so far arrives within a moment.
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => setTimeout(() => resolve(code), 300)));
  return { proc, output: () => out, exit };
}

async function waitFor(s: Shell, re: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  void s.exit.then(() => (exited = true));
  while (!re.test(s.output())) {
    if (exited) throw new Error(`exited before ${re}: ${s.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms: ${s.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function killGroup(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  try {
    if (p.pid) process.kill(-p.pid, signal);
  } catch {
    // already gone
  }
}

async function stopGroup(s: Shell): Promise<void> {
  killGroup(s.proc);
  const t = setTimeout(() => killGroup(s.proc, 'SIGKILL'), 8000);
  await s.exit;
  clearTimeout(t);
}

async function portFree(port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
  const udp = await new Promise<boolean>((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, () => s.close(() => resolve(true)));
  });
  return tcp && udp;
}

describe.skipIf(skipReason !== '')("README's relay and admin commands, verbatim, on a fresh install", () => {
  const blocks = readmeBlocks();
  let relay: Shell | undefined;

  beforeAll(async () => {
    for (const p of [3478, 5349, 3480]) {
      if (!(await portFree(p))) throw new Error(`port ${p} is in use: README's recipe uses the default ports (stop the service holding it, e.g. systemctl stop coturn)`);
    }
    mirror = mkdtempSync(path.join(tmpdir(), 'fresh-install-'));
    // What a clone holds (tracked and not ignored files), then what `npm ci` adds: node_modules and
    // the native addon its postinstall builds.
    const git = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
    const generated = new Set(['node_modules', 'dist', 'data', 'certs', 'logs', '.env', '.git', '.helpers', 'test-results']);
    const files = git.status === 0 ? git.stdout.split('\0').filter((f) => f && existsSync(path.join(ROOT, f))) : readdirSync(ROOT).filter((f) => !generated.has(f));
    for (const f of files) {
      mkdirSync(path.dirname(path.join(mirror, f)), { recursive: true });
      cpSync(path.join(ROOT, f), path.join(mirror, f), { recursive: true });
    }
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(mirror, 'node_modules'));
    const addon = 'turn/native/build/Release/turn_native.node';
    if (existsSync(path.join(ROOT, addon))) {
      mkdirSync(path.dirname(path.join(mirror, addon)), { recursive: true });
      cpSync(path.join(ROOT, addon), path.join(mirror, addon));
    }
  });

  afterAll(async () => {
    for (const g of groups) killGroup(g, 'SIGKILL');
    if (mirror) rmSync(mirror, { recursive: true, force: true });
  });

  it('README marks the recipe blocks', () => {
    expect([...blocks.keys()].sort()).toEqual(['admin', 'relay-client', 'relay-server', 'turnserver', 'turnserver-client']);
  });

  it('before any build, every command runs ours, never coturn\'s program of the same name', async () => {
    expect(existsSync(path.join(mirror, 'dist'))).toBe(false);
    const ours: Array<[string, RegExp]> = [
      ['turnadmin', /TURN REST secret set/],
      ['turnserver', /coturn's command line and turnserver\.conf/],
      ['stunclient', /Send STUN Binding requests/],
      ['uclient', /TURN load\/echo client/],
      ['turnpeer', /UDP echo peer for TURN tests/],
    ];
    for (const [name, re] of ours) {
      const s = sh(`npx ${name} --help`);
      const code = await s.exit;
      expect(code, `${name}: ${s.output()}`).toBe(0);
      // Our own help text (coturn's programs of these names print other texts).
      expect(s.output(), name).toMatch(re);
      if (name === 'turnadmin') expect(s.output()).toMatch(/turnadmin: building dist\/ first/);
    }
    expect(existsSync(path.join(mirror, 'dist/turn/cli/turnadmin.js'))).toBe(true);
  }, 300_000);

  it('"Try the relay on one machine": npm run turn with TURN_ALLOWED_PEERS, then the client commands, no loss', async () => {
    relay = sh(blocks.get('relay-server')!);
    await waitFor(relay, /relay listening: /, 120_000);
    expect(relay.output()).toMatch(/TURN REST secrets: [0-9a-f]{8} \(generated, .*data\/turn-secret\)/);
    const client = sh(blocks.get('relay-client')!);
    const code = await client.exit;
    const out = client.output();
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/XOR-MAPPED-ADDRESS 127\.0\.0\.1:\d+/);
    expect(out.match(/Total lost packets 0 \(0\.00%\)/g), out.slice(-3000)).toHaveLength(2); // our uclient, twice
    expect(out.match(/Total lost packets 0 \(0\.000000%\)/g), out.slice(-3000)).toHaveLength(2); // coturn's, UDP and TLS
  }, 300_000);

  it('"Admin utilities": users, secrets and minting against the running relay', async () => {
    const admin = sh(blocks.get('admin')!);
    const code = await admin.exit;
    const out = admin.output();
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/added user alice \(realm webrtc-call\)/);
    expect(out).toMatch(/^alice\twebrtc-call$/m);
    expect(out).toMatch(/^bob\twebrtc-call$/m);
    expect(out).toMatch(/Total lost packets 0 \(0\.00%\)/);
    expect(out).toMatch(/Total lost packets 0 \(0\.000000%\)/);
    expect(out).toMatch(/^[0-9a-f]{8} .*added .*<- signs new credentials$/m);
    expect(out).toMatch(/^[0-9a-f]{8} .*generated /m);
    expect(out).toMatch(/^\{"username":"\d+:[0-9a-f]{12}","password":"[^"]+","ttl":3600\}$/m);
    expect(out).toMatch(/removed secret [0-9a-f]{8} \(generated\)/);
    expect(existsSync(path.join(mirror, 'data/turn-secret'))).toBe(false);
  }, 300_000);

  it("coturn's command line: npx turnserver as printed, and coturn's client through it", async () => {
    await stopGroup(relay!);
    const server = sh(blocks.get('turnserver')!);
    await waitFor(server, /relay listening: /, 60_000);
    const client = sh(blocks.get('turnserver-client')!);
    const code = await client.exit;
    const out = client.output();
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/Total lost packets 0 \(0\.000000%\)/);
    expect(out).toMatch(/Total lost packets 0 \(0\.00%\)/);
    await stopGroup(server);
  }, 300_000);
});
