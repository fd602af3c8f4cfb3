/**
 * Admin API (/api/admin, ADMIN_TOKEN): auth, rooms listing, relay status, relay sessions
 * (allocations) listed and ended through the relay IPC (stand-in child), static user revocation
 * (through the relay, or in the users file when there is no relay). Disabled (JSON 404) without ADMIN_TOKEN.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitAck, startTestServer, type TestServer } from '../signaling/harness.js';
import { httpsGet } from './httpGet.js';

const TOKEN = 'admin-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
let t: TestServer;

function httpsDelete(url: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'DELETE', headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  t = await startTestServer(
    { TURN_ENABLED: 'true', TURN_SECRET: 's', TURN_PORT: '34791', TURN_REALM: 'example.org', ADMIN_TOKEN: TOKEN },
    { relayModule: path.resolve('test/server/fixtures/fake-relay.mjs'), waitForRelayMs: 5000 },
  );
});
afterAll(async () => {
  await t?.stop();
});

describe('admin API', () => {
  it.each(['/api/admin/rooms', '/api/admin/relay', '/api/admin/relay/allocations'])('%s needs the bearer token (401)', async (p) => {
    const r = await httpsGet(`${t.server.url}${p}`);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await httpsGet(`${t.server.url}${p}`, { authorization: 'Bearer nope-nope-nope-nope' })).status).toBe(401);
    expect((await httpsDelete(`${t.server.url}/api/admin/relay/allocations/a1`, {})).status).toBe(401);
  });

  it('lists rooms and members (no session tokens)', async () => {
    const a = await t.connect();
    await emitAck(a, 'join', '4321', { session: 'secret-session-token-123' });
    const r = await httpsGet(`${t.server.url}/api/admin/rooms`, auth);
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const body = r.json<{ rooms: Array<{ room: string; members: Array<{ socketId: string }> }> }>();
    expect(body.rooms.find((x) => x.room === '4321')?.members.map((m) => m.socketId)).toEqual([a.id]);
    expect(r.body).not.toContain('secret-session-token-123');
    a.disconnect();
  });

  it('shows relay status and stats', async () => {
    const r = await httpsGet(`${t.server.url}/api/admin/relay`, auth);
    expect(r.json()).toMatchObject({ enabled: true, status: { state: 'ready' }, stats: { allocations: { current: 2 } } });
  });

  it('lists relay sessions and ends one', async () => {
    const list = (await httpsGet(`${t.server.url}/api/admin/relay/allocations`, auth)).json<{ allocations: Array<{ id: string }> }>();
    expect(list.allocations.map((a) => a.id)).toContain('a2');
    expect(await httpsDelete(`${t.server.url}/api/admin/relay/allocations/a2`, auth)).toEqual({ status: 200, body: { ended: true } });
    expect((await httpsDelete(`${t.server.url}/api/admin/relay/allocations/a2`, auth)).status).toBe(404);
  });

  it('revokes a static user through the relay (one revoke-user request): removed, its allocations ended', async () => {
    const r = await httpsDelete(`${t.server.url}/api/admin/relay/users/alice`, auth);
    expect(r).toEqual({ status: 200, body: { removed: true, endedAllocations: 1 } });
    expect((await httpsGet(`${t.server.url}/api/admin/relay/allocations`, auth)).json<{ allocations: Array<{ username: string }> }>().allocations.map((a) => a.username)).not.toContain('alice');
    expect(await httpsDelete(`${t.server.url}/api/admin/relay/users/alice`, auth)).toEqual({ status: 404, body: { error: 'no such user', removed: false, endedAllocations: 0 } });
    // The relay could not do it (e.g. the users file is locked): 500 with its reason.
    const locked = await httpsDelete(`${t.server.url}/api/admin/relay/users/locked`, auth);
    expect(locked.status).toBe(500);
    expect(locked.body.error).toMatch(/locked/);
  });

  it('without a relay, revoking edits the users file itself (same module: lock, atomic rewrite, 0600)', async () => {
    const t2 = await startTestServer({ ADMIN_TOKEN: TOKEN, TURN_REALM: 'example.org' });
    try {
      const usersFile = t2.config.TURN_USERS_FILE!;
      mkdirSync(path.dirname(usersFile), { recursive: true });
      writeFileSync(
        usersFile,
        JSON.stringify({
          version: 1,
          users: [
            { name: 'alice', realm: 'example.org', key: '0123456789abcdef0123456789abcdef' },
            { name: 'bob', realm: 'example.org', key: '0123456789abcdef0123456789abcdef' },
            { name: 'alice', realm: 'other.realm', key: '0123456789abcdef0123456789abcdef' },
          ],
          secrets: [{ value: 'x', added: '2026-01-01T00:00:00Z' }],
        }),
      );
      const r = await httpsDelete(`${t2.server.url}/api/admin/relay/users/alice`, auth);
      expect(r).toEqual({ status: 200, body: { removed: true, endedAllocations: 0 } });
      const file = JSON.parse(readFileSync(usersFile, 'utf8'));
      expect(file.users.map((u: { name: string; realm: string }) => `${u.name}@${u.realm}`)).toEqual(['bob@example.org', 'alice@other.realm']);
      expect(file.secrets).toHaveLength(1);
      expect(statSync(usersFile).mode & 0o777).toBe(0o600);
      expect((await httpsDelete(`${t2.server.url}/api/admin/relay/users/alice`, auth)).status).toBe(404);
      writeFileSync(usersFile, '{"version":1,"users":[');
      const broken = await httpsDelete(`${t2.server.url}/api/admin/relay/users/bob`, auth);
      expect(broken.status).toBe(500);
      expect(broken.body.error).toMatch(/malformed/);
    } finally {
      await t2.stop();
    }
  });

  it('unknown admin path → JSON 404', async () => {
    const r = await httpsGet(`${t.server.url}/api/admin/nope`, auth);
    expect(r.status).toBe(404);
    expect(r.json()).toEqual({ error: 'not found' });
  });

  it('without ADMIN_TOKEN the admin API does not exist', async () => {
    const t2 = await startTestServer();
    try {
      const r = await httpsGet(`${t2.server.url}/api/admin/rooms`, auth);
      expect(r.status).toBe(404);
      expect(r.json()).toEqual({ error: 'not found' });
    } finally {
      await t2.stop();
    }
  });

  it('relay operations answer 503 when the relay is disabled', async () => {
    const t2 = await startTestServer({ ADMIN_TOKEN: TOKEN });
    try {
      expect((await httpsGet(`${t2.server.url}/api/admin/relay/allocations`, auth)).status).toBe(503);
      expect((await httpsGet(`${t2.server.url}/api/admin/relay`, auth)).json()).toEqual({ enabled: false, status: null, stats: null });
    } finally {
      await t2.stop();
    }
  });
});
