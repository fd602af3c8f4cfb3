/**
 * Where the native data path cannot be built or loaded, nothing throws: the loader returns a one-line
 * reason (the relay logs it and uses the JavaScript path), and the install-time build script exits 0
 * with one line saying why. The build failure is simulated on a copy of the sources
 * (TURN_NATIVE_BREAK_BUILD=1 compiles an #error), so the real addon is left alone.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const saved = process.env.TURN_NATIVE_ADDON;
const tmp: string[] = [];

afterEach(() => {
  if (saved === undefined) delete process.env.TURN_NATIVE_ADDON;
  else process.env.TURN_NATIVE_ADDON = saved;
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function freshLoader() {
  vi.resetModules();
  return import('../../turn/native/nativeDataPath.js');
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'turn-native-'));
  tmp.push(d);
  return d;
}

describe('native data path fallback', () => {
  it('a missing addon gives a reason, not an exception', async () => {
    process.env.TURN_NATIVE_ADDON = join(tempDir(), 'missing.node');
    const m = await freshLoader();
    const r = m.loadNativeAddon();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^native addon not built \(.*missing\.node missing/);
    const dp = m.createNativeDataPath({ knownRequired: [] }, () => {});
    expect(dp).toEqual({ reason: !r.ok && r.reason });
  });

  it('a file that is not a loadable addon gives a reason, not an exception', async () => {
    const file = join(tempDir(), 'broken.node');
    writeFileSync(file, 'not an ELF shared object');
    process.env.TURN_NATIVE_ADDON = file;
    const m = await freshLoader();
    const r = m.loadNativeAddon();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^native addon failed to load \(/);
    expect(!r.ok && r.reason).not.toContain('\n');
  });

  it('a failing build prints one line with the reason, leaves no addon and exits 0; TURN_NATIVE_BUILD=0 skips', () => {
    const d = tempDir();
    cpSync(join(root, 'scripts', 'build-native.mjs'), join(d, 'scripts', 'build-native.mjs'));
    cpSync(join(root, 'turn', 'native', 'binding.gyp'), join(d, 'turn', 'native', 'binding.gyp'));
    cpSync(join(root, 'turn', 'native', 'src'), join(d, 'turn', 'native', 'src'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(d, 'node_modules'));
    const addon = join(d, 'turn', 'native', 'build', 'Release', 'turn_native.node');
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [join(d, 'scripts', 'build-native.mjs')], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 240_000 });

    const broken = run({ TURN_NATIVE_BREAK_BUILD: '1' });
    expect(broken.status).toBe(0);
    const lines = broken.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^native data path: build failed \(.*\); the relay will use the JavaScript data path\. Full log: turn\/native\/build\.log$/);
    expect(lines[0]).toMatch(/error/i);
    expect(existsSync(addon)).toBe(false);

    const skipped = run({ TURN_NATIVE_BUILD: '0' });
    expect(skipped.status).toBe(0);
    expect(skipped.stdout.trim()).toBe('native data path: build skipped (TURN_NATIVE_BUILD=0); the relay will use the JavaScript data path');
  }, 240_000);
});
