#!/usr/bin/env node
/**
 * Build the native TURN data path (turn/native, an N-API addon) with node-gyp against the headers
 * of the Node that runs this script (--nodedir = its install prefix, so nothing is downloaded).
 * Run by `npm ci` / `npm install` (postinstall) and by `npm run build:native`.
 *
 * It never fails: on any error it prints one line with the reason, removes a stale addon, and
 * exits 0; the relay then uses its JavaScript data path. The full compiler output goes to
 * turn/native/build.log; the one line also goes to turn/native/build-result.txt, where the relay's
 * loader finds it and logs why it is not using the native path.
 *
 * An addon that is newer than its sources and loads in this Node is kept as it is (`npx` installs
 * the project into its cache and runs this script again; `--force` rebuilds anyway).
 *
 * Environment:
 *   TURN_NATIVE_BUILD=0          skip the build (and remove an old addon)
 *   TURN_NATIVE_BREAK_BUILD=1    compile with an #error, to test the fallback
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'turn', 'native');
const addon = join(dir, 'build', 'Release', 'turn_native.node');
const log = join(dir, 'build.log');
const result = join(dir, 'build-result.txt');
const say = (msg) => {
  const line = `native data path: ${msg}`;
  console.log(line);
  try {
    writeFileSync(result, `${line}\n`);
  } catch {
    /* read-only install: the relay then reports only that the addon is missing */
  }
};

function removeAddon() {
  rmSync(addon, { force: true });
}

/** The addon exists, is newer than binding.gyp and src/, and loads in this Node (same ABI). */
function upToDate() {
  try {
    const built = statSync(addon).mtimeMs;
    const sources = [join(dir, 'binding.gyp'), ...readdirSync(join(dir, 'src')).map((f) => join(dir, 'src', f))];
    if (sources.some((f) => statSync(f).mtimeMs > built)) return false;
    createRequire(import.meta.url)(addon);
    return true;
  } catch {
    return false;
  }
}

function findNodeGyp() {
  try {
    return createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // npm ships its own copy next to its CLI.
    const npmCli = process.env.npm_execpath;
    const bundled = npmCli ? join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js') : '';
    return bundled && existsSync(bundled) ? bundled : undefined;
  }
}

function main() {
  if (process.platform !== 'linux') {
    removeAddon();
    return say(`not built (${process.platform}: recvmmsg/sendmmsg/epoll are Linux-only); the relay will use the JavaScript data path`);
  }
  if (process.env.TURN_NATIVE_BUILD === '0') {
    removeAddon();
    return say('build skipped (TURN_NATIVE_BUILD=0); the relay will use the JavaScript data path');
  }
  if (!process.argv.includes('--force') && process.env.TURN_NATIVE_BREAK_BUILD !== '1' && upToDate()) {
    return say(`up to date (${relative(root, addon)}); --force rebuilds`);
  }
  const gyp = findNodeGyp();
  if (!gyp) {
    removeAddon();
    return say('build failed (node-gyp not found); the relay will use the JavaScript data path');
  }
  const nodedir = dirname(dirname(process.execPath));
  const env = { ...process.env, npm_config_nodedir: nodedir };
  const breakBuild = process.env.TURN_NATIVE_BREAK_BUILD === '1';
  // Broken on purpose: the first source stops at its #error (no parallel jobs to wait for).
  if (breakBuild) env.CPPFLAGS = `${env.CPPFLAGS ?? ''} -DTURN_NATIVE_BREAK_BUILD -Wfatal-errors`;
  const started = Date.now();
  const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn', ...(breakBuild ? [] : ['--jobs=max'])], { cwd: dir, env, encoding: 'utf8', timeout: 300_000 });
  writeFileSync(log, `${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ? String(r.error) : ''}\n`);
  if (r.status !== 0 || !existsSync(addon)) {
    removeAddon();
    const text = `${r.stderr ?? ''}\n${r.stdout ?? ''}`;
    const first = text.split('\n').find((l) => /error|not found|No such file/i.test(l))?.trim() ?? (r.error ? String(r.error) : `exit ${r.status}`);
    return say(`build failed (${first.slice(0, 200)}); the relay will use the JavaScript data path. Full log: ${relative(root, log)}`);
  }
  say(`built ${relative(root, addon)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

try {
  main();
} catch (err) {
  try {
    removeAddon();
  } catch {
    /* nothing to remove */
  }
  say(`build failed (${err instanceof Error ? err.message : String(err)}); the relay will use the JavaScript data path`);
}
process.exitCode = 0;
