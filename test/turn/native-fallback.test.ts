/**
 * Where the native data path cannot be built or loaded, nothing throws: the loader returns a one-line
 * reason, and the install-time build script exits 0 with one line saying why. A relay on `auto`
 * then logs that reason in one line and relays on the JavaScript path; on `native` it refuses to
 * start. The build failure is simulated on a copy of the sources (TURN_NATIVE_BREAK_BUILD=1
 * compiles an #error), so the real addon is left alone.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TestClient, TestPeer, restCreds, REALM, SECRET } from './helpers.js';
import { randomRelayRange } from '../helpers/ports.js';

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

  it('a failing build prints one line with the reason, leaves no addon and exits 0; the relay logs that reason once and relays on JavaScript; TURN_NATIVE_BUILD=0 skips', async () => {
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

    // A relay (fresh modules, so the loader looks again) pointed at that build: one line says why.
    process.env.TURN_NATIVE_ADDON = addon;
    vi.resetModules();
    const { createTurnServer } = await import('../../turn/index.js');
    const logged: string[] = [];
    const log = (level: string) => (m: string) => logged.push(`${level} ${m}`);
    const logger = { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };
    const range = randomRelayRange(20);
    const options = { realm: REALM, secrets: [SECRET], listen: '127.0.0.1', port: 0, minPort: range.min, maxPort: range.max, allowedPeers: ['127.0.0.0/8'], logger };
    expect(() => createTurnServer({ ...options, dataPath: 'native' })).toThrow(/^native data path unavailable: native addon not built \(build failed \(.*error/);
    const relay = createTurnServer({ ...options, dataPath: 'auto' });
    try {
      await relay.start();
      const lines = logged.filter((l) => l.includes('data path'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^warn data path: JavaScript, because the native data path is unavailable: native addon not built \(build failed \(.*error.*Full log: turn\/native\/build\.log\)$/);
      expect(relay.stats().dataPath).toEqual({ kind: 'js', threads: 1, fallbackReason: expect.stringMatching(/build failed/) });
      const c = await TestClient.open(relay.addresses().udp[0]!.port, restCreds());
      const p = await TestPeer.open();
      try {
        const relayed = await c.allocateRelayed();
        await c.channelBind(0x4000, p.address);
        c.sendChannelData(0x4000, Buffer.from('on the JavaScript path'));
        expect((await p.next()).data.toString()).toBe('on the JavaScript path');
        p.send(relayed, Buffer.from('and back'));
        expect((await c.nextReceived()).data.toString()).toBe('and back');
      } finally {
        c.close();
        p.close();
      }
    } finally {
      await relay.stop();
    }

    const skipped = run({ TURN_NATIVE_BUILD: '0' });
    expect(skipped.status).toBe(0);
    expect(skipped.stdout.trim()).toBe('native data path: build skipped (TURN_NATIVE_BUILD=0); the relay will use the JavaScript data path');
  }, 240_000);
});
