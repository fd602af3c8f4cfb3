/**
 * The TURN REST secret set (turn/auth/secretStore.ts): order (added, TURN_SECRET, generated),
 * generation only when empty, masking, and the live `SecretStore` the web server and the relay use
 * (changes seen on the next poll; a malformed users file never stops a server).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretStore, maskSecret, readSecretSet, secretId } from '../../turn/auth/secretStore.js';
import { updateUsersFile } from '../../turn/auth/usersFile.js';

let dir: string;
let usersFile: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'secret-set-'));
  usersFile = path.join(dir, 'users.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const add = (value: string) => updateUsersFile(usersFile, true, (d) => void d.secrets.unshift({ value, added: new Date().toISOString() }));

describe('readSecretSet', () => {
  it('generates DATA_DIR/turn-secret (0600) only when the set would be empty, once', () => {
    expect(readSecretSet({ dataDir: dir, usersFile })).toEqual([]);
    const [g] = readSecretSet({ dataDir: dir, usersFile }, { create: true });
    expect(g).toMatchObject({ source: 'generated' });
    expect(g!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(path.join(dir, 'turn-secret')).mode & 0o777).toBe(0o600);
    expect(readSecretSet({ dataDir: dir, usersFile }, { create: true }).map((e) => e.value)).toEqual([g!.value]);
  });

  it('newest first: added (newest first), then TURN_SECRET; the generated one only without TURN_SECRET', () => {
    writeFileSync(path.join(dir, 'turn-secret'), 'generated-secret-0123456789\n');
    add('added-old-0123456789');
    add('added-new-0123456789');
    expect(readSecretSet({ dataDir: dir, usersFile }).map((e) => `${e.source}:${e.value}`)).toEqual([
      'added:added-new-0123456789',
      'added:added-old-0123456789',
      'generated:generated-secret-0123456789',
    ]);
    expect(readSecretSet({ configured: ['env-a-0123456789', 'added-old-0123456789'], dataDir: dir, usersFile }, { create: true }).map((e) => `${e.source}:${e.value}`)).toEqual([
      'added:added-new-0123456789',
      'added:added-old-0123456789',
      'configured:env-a-0123456789',
    ]);
  });

  it('masks for display and names each secret by a short id', () => {
    expect(maskSecret('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')).toBe('abc…(43 chars)');
    expect(maskSecret('abcd')).toBe('a…(4 chars)');
    expect(secretId('x')).toMatch(/^[0-9a-f]{8}$/);
    expect(secretId('x')).not.toBe(secretId('y'));
  });
});

describe('SecretStore', () => {
  const logs: string[] = [];
  const logger = { debug() {}, info: (m: string) => logs.push(`info ${m}`), warn: (m: string) => logs.push(`warn ${m}`), error: (m: string) => logs.push(`error ${m}`) };

  it('sees added and removed secrets on the next poll; newest() signs, base() is what the relay adds to the file', () => {
    const store = new SecretStore({ dataDir: dir, usersFile }, logger, 60_000).start();
    try {
      const generated = store.newest();
      expect(store.base()).toEqual([generated]);
      add('rotated-secret-0123456789');
      store.poll();
      expect(store.newest()).toBe('rotated-secret-0123456789');
      expect(store.base()).toEqual([generated]);
      rmSync(path.join(dir, 'turn-secret'));
      store.poll();
      expect(store.all().map((e) => e.value)).toEqual(['rotated-secret-0123456789']);
      expect(store.base()).toEqual([]);
    } finally {
      store.stop();
    }
  });

  it('a malformed users file at start is logged and skipped, and counts again once fixed', () => {
    writeFileSync(usersFile, '{"version": 1, "secrets": [');
    const store = new SecretStore({ configured: ['configured-secret-0123456789'], dataDir: dir, usersFile }, logger, 60_000).start();
    try {
      expect(store.newest()).toBe('configured-secret-0123456789');
      expect(logs.some((l) => /^error TURN REST secrets: users file .* is malformed/.test(l))).toBe(true);
      expect(existsSync(path.join(dir, 'turn-secret'))).toBe(false);
      writeFileSync(usersFile, JSON.stringify({ version: 1, secrets: [{ value: 'fixed-secret-0123456789', added: new Date().toISOString() }] }));
      store.poll();
      expect(store.newest()).toBe('fixed-secret-0123456789');
      expect(readFileSync(usersFile, 'utf8')).toContain('fixed-secret');
    } finally {
      store.stop();
    }
  });
});
