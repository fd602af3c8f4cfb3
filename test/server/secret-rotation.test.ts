/**
 * One secret set for the web server, the relay and `turnadmin`: the real web server (in-process)
 * with its real relay child (dist/turn/main.js), rotated with `turnadmin` (a child process) while
 * both run. A secret added with `add-secret` (or coturn's `-s`) signs new browser credentials within a
 * second while credentials of the old secret keep working; `mint` signs exactly as
 * `/api/ice-servers`; removing the old secret (the generated `data/turn-secret`, as
 * `turnadmin remove-secret "$(cat data/turn-secret)"`) makes its credentials fail at the relay.
 * Needs `npm run build:server`.
 */
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IceServersResponse } from '../../server/iceServers.js';
import { TurnClient, TurnRequestError } from '../../turn/index.js';
import { freeTcpPort, freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';
import { startTestServer, type TestServer } from '../signaling/harness.js';
import { clisBuilt, runCli, type CliRun } from '../turn/cli-helpers.js';
import { httpsGet } from './httpGet.js';

const built = clisBuilt() && existsSync(path.resolve('dist/turn/main.js'));
if (!built) console.warn('SKIPPING secret-rotation tests: dist/ missing; run `npm run build:server` first');

const hmac = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');
interface Cred {
  username: string;
  password: string;
}

let t: TestServer;
let port: number;
let cwd: string;

/** Whether the relay lets `cred` allocate (false on 401). */
async function allocates(cred: Cred): Promise<boolean> {
  const c = await TurnClient.connect({ transport: 'udp', host: '127.0.0.1', port }, cred, { timeoutMs: 3000 });
  try {
    await c.allocateRelayed();
    await c.refresh(0, 2000);
    return true;
  } catch (err) {
    if (err instanceof TurnRequestError && err.code === 401) return false;
    throw err;
  } finally {
    c.close();
  }
}

/** Poll `check` every 50 ms until it returns true; @returns ms taken, or -1 after `ms`. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > ms) return -1;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ICE_TOKEN = 'rotation-ice-token-0123456789';

async function browserCred(): Promise<Cred & { ttl: number }> {
  const body = (await httpsGet(`${t.server.url}/api/ice-servers`, { authorization: `Bearer ${ICE_TOKEN}` })).json<IceServersResponse>();
  const turn = body.iceServers[1]!;
  return { username: turn.username!, password: turn.credential!, ttl: body.ttl };
}

// turnadmin runs with the same settings as the server (same .env / environment file).
const admin = (args: string[]): Promise<CliRun> => runCli('turnadmin', args, { cwd, env: { DATA_DIR: t.config.DATA_DIR, TURN_REALM: t.config.TURN_REALM, TURN_CREDENTIAL_TTL: String(t.config.TURN_CREDENTIAL_TTL) } });

describe.skipIf(!built)('rotating the TURN REST secret with turnadmin while the web server and relay run', () => {
  beforeAll(async () => {
    cwd = mkdtempSync(path.join(tmpdir(), 'rotation-'));
    port = await freeUdpTcpPort();
    const range = randomRelayRange(100);
    t = await startTestServer(
      {
        TURN_ENABLED: 'true',
        TURN_LISTEN: '127.0.0.1',
        TURN_PORT: String(port),
        TURN_TLS_PORT: String(await freeTcpPort()),
        TURN_MIN_PORT: String(range.min),
        TURN_MAX_PORT: String(range.max),
        TURN_REALM: 'rotation.test',
        TURN_CREDENTIAL_TTL: '3600',
        ICE_TOKEN,
      },
      { waitForRelayMs: 20_000 },
    );
    expect(t.server.relay?.isReady()).toBe(true);
  });
  afterAll(async () => {
    await t?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('add → new credentials use the new secret, old ones still work; mint = /api/ice-servers; remove old → its credentials fail', async () => {
    const generated = readFileSync(path.join(t.config.DATA_DIR, 'turn-secret'), 'utf8').trim();
    const before = await browserCred();
    expect(before.password).toBe(hmac(generated, before.username));
    expect(await allocates(before)).toBe(true);

    // coturn's spelling of add-secret.
    const fresh = 'rotated-secret-' + Date.now().toString(36) + '-0123456789';
    const added = await admin(['-s', fresh]);
    expect(added.code, added.stderr).toBe(0);
    const webMs = await within(1000, async () => {
      const c = await browserCred();
      return c.password === hmac(fresh, c.username);
    });
    expect(webMs, 'the web server signs with the new secret within a second').toBeGreaterThanOrEqual(0);
    const after = await browserCred();
    expect(after.password).toBe(hmac(fresh, after.username));
    expect(await within(1000, () => allocates(after)), 'the relay accepts the new credentials within a second').toBeGreaterThanOrEqual(0);
    expect(await allocates(before), 'credentials of the old secret still work').toBe(true);

    // mint signs as the web server does: newest secret, TURN_CREDENTIAL_TTL, <expiry>:<12 hex>.
    const minted = await admin(['mint']);
    expect(minted.code, minted.stderr).toBe(0);
    const m = JSON.parse(minted.stdout) as Cred & { ttl: number };
    expect(m.ttl).toBe(after.ttl);
    expect(m.username).toMatch(/^\d+:[0-9a-f]{12}$/);
    expect(after.username).toMatch(/^\d+:tester-[0-9a-f]{12}$/);
    expect(Math.abs(Number(m.username.split(':')[0]) - Number(after.username.split(':')[0]))).toBeLessThan(30);
    expect(m.password).toBe(hmac(fresh, m.username));
    expect(await allocates(m)).toBe(true);

    // Every secret in use is listed, masked.
    const listed = await admin(['list-secrets']);
    expect(listed.stdout.trim().split('\n')).toHaveLength(2);
    expect(listed.stdout).toMatch(/generated/);
    expect(listed.stdout).not.toContain(generated);
    expect(listed.stdout).not.toContain(fresh);

    // Removing the old secret revokes what it signed, at the relay and for new browser credentials.
    const removed = await admin(['remove-secret', generated]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await within(1000, async () => !(await allocates(before))), 'old credentials fail within a second').toBeGreaterThanOrEqual(0);
    expect(await allocates(after)).toBe(true);
    const later = await browserCred();
    expect(later.password).toBe(hmac(fresh, later.username));
    expect(existsSync(path.join(t.config.DATA_DIR, 'turn-secret'))).toBe(false);
  });
});
