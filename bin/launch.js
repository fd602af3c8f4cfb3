/**
 * Launchers of the package's commands (`turnserver`, `turnadmin`, `stunclient`, `uclient`,
 * `turnpeer`; package.json "bin"). They always exist, so `npx turnadmin` runs ours even before the
 * first build — npx falls back to a program of the same name on PATH (coturn's!) when a bin target
 * is missing. The command itself is the compiled TypeScript in dist/: when dist/ is missing or older
 * than the sources (after `npm ci`, a `git pull`, an edit), it is built first with
 * `tsc -p tsconfig.build.json` (what `npm run build:server` runs), one build at a time.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** What the compiled commands are built from. */
const SOURCE_DIRS = ['turn', 'contracts', 'common'];
const SOURCE_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];
const LOCK = path.join(root, 'node_modules', '.cache', 'webrtc-call-build.lock');
const BUILD_TIMEOUT_MS = 180_000;

/** Newest modification time (ms) of the TypeScript sources the commands are built from. */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'build') walk(p);
      } else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) walk(path.join(root, d));
  for (const f of SOURCE_FILES) if (existsSync(path.join(root, f))) newest = Math.max(newest, statSync(path.join(root, f)).mtimeMs);
  return newest;
}

function isStale(target) {
  return !existsSync(target) || statSync(target).mtimeMs < newestSource();
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Take the build lock (a directory holding the builder's pid); a dead builder's lock is broken. */
function lock() {
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      return true;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let holder = 0;
      try {
        holder = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8'));
      } catch {
        // Being created or removed right now.
      }
      if (holder > 0 && !pidAlive(holder)) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) return false;
      else sleep(200);
    }
  }
}

/**
 * Build dist/ when `target` is missing or stale.
 * @returns an error message, or undefined when `target` is ready.
 */
function ensureBuilt(name, target) {
  if (!isStale(target)) return undefined;
  if (!lock()) return 'another build did not finish within 3 minutes';
  try {
    if (!isStale(target)) return undefined; // another launcher built it meanwhile
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    if (!existsSync(tsc)) return `${path.relative(process.cwd(), target) || target} is missing or outdated and TypeScript is not installed: run \`npm ci\` (with dev dependencies) and \`npm run build:server\` in ${root}`;
    process.stderr.write(`${name}: building dist/ first (tsc -p tsconfig.build.json, as npm run build:server)…\n`);
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
    if (r.status !== 0 || !existsSync(target)) return `build failed (npm run build:server in ${root} shows why): ${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(0, 5).join(' | ') || r.error?.message || `exit ${r.status}`}`;
    return undefined;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Run command `name` from dist/turn/cli/, building first when needed.
 * Exits with code 1 (one line on stderr) when it cannot be built and no earlier build exists.
 */
export async function launch(name) {
  const target = path.join(root, 'dist', 'turn', 'cli', `${name}.js`);
  const problem = ensureBuilt(name, target);
  if (problem) {
    if (!existsSync(target)) {
      process.stderr.write(`${name}: ${problem}\n`);
      process.exit(1);
    }
    process.stderr.write(`${name}: warning: ${problem}; running the existing build\n`);
  }
  await import(pathToFileURL(target).href);
}
