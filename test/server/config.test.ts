/**
 * Configuration errors: `loadConfig` names every bad variable; `node dist/server/main.js` with a
 * bad variable exits 1 with that message and no stack trace (needs `npm run build:server`, which
 * `npm test` runs first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../contracts/config.js';

describe('loadConfig', () => {
  it.each([
    [{ HTTPS_PORT: '99999' }, 'HTTPS_PORT'],
    [{ HTTPS_PORT: 'abc' }, 'HTTPS_PORT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ TURN_ENABLED: 'maybe' }, 'TURN_ENABLED'],
    [{ SEAT_GRACE_MS: '-1' }, 'SEAT_GRACE_MS'],
    [{ TLS_CERT: '/x.crt' }, 'TLS_KEY'],
    [{ TURN_ALLOWED_PEERS: '10.0.0.0/99' }, 'TURN_ALLOWED_PEERS'],
  ])('%j → ConfigError naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`${name}(\\.\\d+)?:`));
  });

  it('names every bad variable at once', () => {
    try {
      loadConfig({ HTTPS_PORT: 'x', LOG_LEVEL: 'y' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/HTTPS_PORT:/);
      expect((err as Error).message).toMatch(/LOG_LEVEL:/);
    }
  });
});

const mainJs = path.resolve('dist/server/main.js');
const built = existsSync(mainJs);
if (!built) console.warn(`SKIPPED: ${mainJs} missing — run "npm run build:server" (npm test does) to test the entry point`);

describe.skipIf(!built)('dist/server/main.js', () => {
  it('exits 1 on a bad variable, printing the variable and no stack trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-main-'));
    try {
      const r = spawnSync(process.execPath, [mainJs], {
        cwd: dir, // no .env there
        env: { PATH: process.env.PATH, HTTPS_PORT: 'not-a-port', LOG_DIR: path.join(dir, 'logs') },
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/HTTPS_PORT:/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
