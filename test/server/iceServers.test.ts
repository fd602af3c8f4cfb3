/**
 * GET /api/ice-servers: URL list, fresh TURN REST credentials, Host handling, TURN_URLS,
 * TURN disabled. The relay child is a stand-in (fixtures/fake-relay.mjs) speaking the relay IPC.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIceServers, hostFromHeader, iceServerWarnings, normalizeHost } from '../../server/iceServers.js';
import type { IceServersResponse } from '../../server/iceServers.js';
import { startTestServer, type TestServer } from '../signaling/harness.js';
import { httpsGet } from './httpGet.js';

const fakeRelay = path.resolve('test/server/fixtures/fake-relay.mjs');
const hmac = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');


/** The tester token every server of this file is started with (GET /api/ice-servers needs it). */
const ICE_TOKEN = 'ice-servers-test-token-0123456789';
const iceGet = (url: string, headers: Record<string, string> = {}) => httpsGet(url, { authorization: `Bearer ${ICE_TOKEN}`, ...headers });

describe('hostFromHeader', () => {
  it.each([
    ['localhost:8443', 'localhost'],
    ['Example.COM', 'example.com'],
    ['call.example.org.', 'call.example.org'],
    ['127.0.0.1:8443', '127.0.0.1'],
    ['[::1]:8443', '::1'],
    ['[2001:db8::1]', '2001:db8::1'],
  ])('%s → %s', (h, want) => {
    expect(hostFromHeader(h)).toBe(want);
  });

  it.each([
    undefined,
    '',
    'evil"host',
    'a b',
    'host:port',
    'host:99999999',
    '::1',
    '[::1',
    '[nothex]:1',
    '[fe80::1%eth0]:1',
    '999.1.1.1',
    'x'.repeat(400),
    'a..b',
    '-bad.example',
    'host/path',
    'host?x=1',
    'turn:x',
  ])('rejects %j', (h) => {
    expect(hostFromHeader(h)).toBeUndefined();
  });

  it('normalizeHost accepts bracketed IPv6 and names, rejects garbage', () => {
    expect(normalizeHost('[::1]')).toBe('::1');
    expect(normalizeHost('turn.example.com')).toBe('turn.example.com');
    expect(normalizeHost('turn.example.com:3478')).toBeUndefined();
  });
});

describe('buildIceServers (pure)', () => {
  const config = { TURN_ENABLED: true, TURN_PUBLIC_HOST: undefined, TURN_URLS: undefined, TURN_CREDENTIAL_TTL: 600 };
  it('embedded relay with TLS: stun + turn udp/tcp + turns, REST credential', () => {
    const r = buildIceServers({ config, requestHost: '::1', relay: { port: 3478, tlsPort: 5349 }, secret: 's3cret', userId: 'u1', nowS: 1000 });
    expect(r).toEqual({
      ttl: 600,
      iceServers: [
        { urls: ['stun:[::1]:3478'] },
        {
          urls: ['turn:[::1]:3478?transport=udp', 'turn:[::1]:3478?transport=tcp', 'turns:[::1]:5349?transport=tcp'],
          username: '1600:u1',
          credential: hmac('s3cret', '1600:u1'),
        },
      ],
    });
  });
  it('no TLS: no turns: URL', () => {
    const r = buildIceServers({ config, requestHost: 'h', relay: { port: 1 }, secret: 's' });
    expect(r.iceServers[1]!.urls.some((u) => u.startsWith('turns:'))).toBe(false);
  });
  it('relay enabled but not ready: empty list', () => {
    expect(buildIceServers({ config, requestHost: 'h', relay: undefined, secret: 's' }).iceServers).toEqual([]);
  });
  it('relay disabled with TURN_PUBLIC_HOST (a relay host of its own): stun + turn udp/tcp + turns on TURN_PORT/TURN_TLS_PORT', () => {
    const separate = { TURN_ENABLED: false, TURN_PUBLIC_HOST: 'turn.example.com', TURN_URLS: undefined, TURN_CREDENTIAL_TTL: 600, TURN_PORT: 3478, TURN_TLS_PORT: 5349 };
    const r = buildIceServers({ config: separate, requestHost: 'call.example.com', relay: undefined, secret: 's3cret', userId: 'u2', nowS: 1000 });
    expect(r.iceServers).toEqual([
      { urls: ['stun:turn.example.com:3478'] },
      {
        urls: ['turn:turn.example.com:3478?transport=udp', 'turn:turn.example.com:3478?transport=tcp', 'turns:turn.example.com:5349?transport=tcp'],
        username: '1600:u2',
        credential: hmac('s3cret', '1600:u2'),
      },
    ]);
    expect(iceServerWarnings(separate)).toEqual([]);
  });
  it('says at start which settings are ignored or leave browsers without a relay', () => {
    expect(iceServerWarnings({ TURN_ENABLED: false, TURN_PUBLIC_HOST: 'turn.example.com', TURN_URLS: ['stun:x:1'] })).toEqual([
      'TURN_PUBLIC_HOST ignored: TURN_URLS lists the ICE server URLs handed out',
    ]);
    expect(iceServerWarnings({ TURN_ENABLED: false, TURN_PUBLIC_HOST: undefined, TURN_URLS: undefined })[0]).toMatch(/^no STUN\/TURN servers handed out/);
    expect(iceServerWarnings({ TURN_ENABLED: true, TURN_PUBLIC_HOST: undefined, TURN_URLS: undefined })).toEqual([]);
  });
});

describe('with the embedded relay (stand-in child)', () => {
  let t: TestServer;
  const secret = 'test-shared-secret';
  beforeAll(async () => {
    t = await startTestServer(
      { ICE_TOKEN, TURN_ENABLED: 'true', TURN_SECRET: `${secret},older-secret`, TURN_PORT: '34780', TURN_TLS_PORT: '53490', TURN_CREDENTIAL_TTL: '3600' },
      { relayModule: fakeRelay, waitForRelayMs: 5000 },
    );
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('returns stun/turn/turns URLs for the page host with a fresh, valid REST credential and no-store', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await iceGet(`${t.server.url}/api/ice-servers`, { host: 'call.example.com:8443' });
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    const body = r.json<IceServersResponse>();
    expect(body.ttl).toBe(3600);
    expect(body.iceServers[0]).toEqual({ urls: ['stun:call.example.com:34780'] });
    const turn = body.iceServers[1]!;
    expect(turn.urls).toEqual([
      'turn:call.example.com:34780?transport=udp',
      'turn:call.example.com:34780?transport=tcp',
      'turns:call.example.com:53490?transport=tcp',
    ]);
    const [expiry, user] = turn.username!.split(':');
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 3600);
    expect(Number(expiry)).toBeLessThanOrEqual(before + 3601 + 5);
    expect(user).toMatch(/^tester-[0-9a-f]{12}$/);
    expect(turn.credential).toBe(hmac(secret, turn.username!));
    expect(r.body).not.toContain(secret);
    expect(r.body).not.toContain('older-secret');
  });

  it('every request gets a different user id', async () => {
    const a = (await iceGet(`${t.server.url}/api/ice-servers`)).json<IceServersResponse>();
    const b = (await iceGet(`${t.server.url}/api/ice-servers`)).json<IceServersResponse>();
    expect(a.iceServers[1]!.username).not.toBe(b.iceServers[1]!.username);
  });

  it('IPv6 Host header is bracketed in URLs', async () => {
    const body = (await iceGet(`${t.server.url}/api/ice-servers`, { host: '[::1]:8443' })).json<IceServersResponse>();
    expect(body.iceServers[0]!.urls).toEqual(['stun:[::1]:34780']);
  });

  it.each(['evil"><script>', 'a b', 'x:y:z', 'host:abc'])('never reflects a garbage Host header (%j → 400)', async (host) => {
    const r = await iceGet(`${t.server.url}/api/ice-servers`, { host });
    expect(r.status).toBe(400);
    expect(r.json()).toEqual({ error: 'invalid Host header' });
    expect(r.body).not.toContain(host);
  });

  it('readyz is 200 once the relay is ready', async () => {
    const r = await httpsGet(`${t.server.url}/readyz`);
    expect(r.status).toBe(200);
    expect(r.json<{ checks: unknown }>().checks).toEqual({ https: true, signaling: true, relay: true });
  });
});

describe('TURN_PUBLIC_HOST, TURN_URLS, TURN disabled', () => {
  it('TURN_PUBLIC_HOST overrides the page host; no TLS → no turns: URL', async () => {
    const t = await startTestServer(
      { ICE_TOKEN, TURN_ENABLED: 'true', TURN_SECRET: 'x', TURN_PORT: '34781', TURN_PUBLIC_HOST: 'turn.example.net', FAKE_RELAY_NO_TLS: '1' },
      { relayModule: fakeRelay, waitForRelayMs: 5000 },
    );
    try {
      const body = (await iceGet(`${t.server.url}/api/ice-servers`, { host: 'other.example.com' })).json<IceServersResponse>();
      expect(body.iceServers[1]!.urls).toEqual(['turn:turn.example.net:34781?transport=udp', 'turn:turn.example.net:34781?transport=tcp']);
    } finally {
      await t.stop();
    }
  });

  it('relay not ready yet: readyz 503, and the configured TURN port is handed out (no turns:)', async () => {
    const t = await startTestServer(
      { ICE_TOKEN, TURN_ENABLED: 'true', TURN_SECRET: 'x', TURN_PORT: '34783', FAKE_RELAY_DELAY_MS: '60000' },
      { relayModule: fakeRelay },
    );
    try {
      const ready = await httpsGet(`${t.server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.json()).toEqual({ status: 'not-ready', checks: { https: true, signaling: true, relay: false } });
      const body = (await iceGet(`${t.server.url}/api/ice-servers`, { host: 'h.example' })).json<IceServersResponse>();
      expect(body.iceServers[1]!.urls).toEqual(['turn:h.example:34783?transport=udp', 'turn:h.example:34783?transport=tcp']);
    } finally {
      await t.stop();
    }
  });

  it('TURN_URLS replaces the list (stun: without credentials, turn:/turns: with)', async () => {
    const t = await startTestServer({ ICE_TOKEN,
      TURN_ENABLED: 'false',
      TURN_SECRET: 'coturn-secret',
      TURN_URLS: 'stun:stun.example.org:3478, turn:turn.example.org:3478?transport=udp,turns:turn.example.org:443?transport=tcp',
    });
    try {
      const body = (await iceGet(`${t.server.url}/api/ice-servers`)).json<IceServersResponse>();
      expect(body.iceServers[0]).toEqual({ urls: ['stun:stun.example.org:3478'] });
      const turn = body.iceServers[1]!;
      expect(turn.urls).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:443?transport=tcp']);
      expect(turn.credential).toBe(hmac('coturn-secret', turn.username!));
    } finally {
      await t.stop();
    }
  });

  it('TURN disabled, TURN_PUBLIC_HOST set (relay on a host of its own): that host\'s URLs with credentials of the secret set', async () => {
    const t = await startTestServer({ ICE_TOKEN, TURN_ENABLED: 'false', TURN_PUBLIC_HOST: 'turn.example.com', TURN_PORT: '3478', TURN_TLS_PORT: '5349' });
    try {
      const body = (await iceGet(`${t.server.url}/api/ice-servers`, { host: 'call.example.com' })).json<IceServersResponse>();
      expect(body.iceServers[0]).toEqual({ urls: ['stun:turn.example.com:3478'] });
      const turn = body.iceServers[1]!;
      expect(turn.urls).toEqual(['turn:turn.example.com:3478?transport=udp', 'turn:turn.example.com:3478?transport=tcp', 'turns:turn.example.com:5349?transport=tcp']);
      const secret = readFileSync(path.join(t.config.DATA_DIR, 'turn-secret'), 'utf8').trim();
      expect(turn.credential).toBe(hmac(secret, turn.username!));
    } finally {
      await t.stop();
    }
  });

  it('TURN disabled with TURN_URLS and TURN_PUBLIC_HOST: the documented TURN_URLS are handed out (TURN_PUBLIC_HOST ignored)', async () => {
    const urls = 'stun:turn.example.com:3478,turn:turn.example.com:3478?transport=udp,turn:turn.example.com:3478?transport=tcp,turns:turn.example.com:5349?transport=tcp';
    const t = await startTestServer({ ICE_TOKEN, TURN_ENABLED: 'false', TURN_URLS: urls, TURN_PUBLIC_HOST: 'other.example.com', TURN_SECRET: 'shared-with-the-relay-0123456789' });
    try {
      const body = (await iceGet(`${t.server.url}/api/ice-servers`)).json<IceServersResponse>();
      expect(body.iceServers[0]).toEqual({ urls: ['stun:turn.example.com:3478'] });
      const turn = body.iceServers[1]!;
      expect(turn.urls).toEqual(urls.split(',').slice(1));
      expect(turn.credential).toBe(hmac('shared-with-the-relay-0123456789', turn.username!));
    } finally {
      await t.stop();
    }
  });

  it('TURN disabled and no TURN_URLS: empty list, no secret file created', async () => {
    const t = await startTestServer({ ICE_TOKEN, TURN_ENABLED: 'false' });
    try {
      const r = await iceGet(`${t.server.url}/api/ice-servers`);
      expect(r.status).toBe(200);
      expect(r.json<IceServersResponse>().iceServers).toEqual([]);
      expect(() => readFileSync(path.join(t.config.DATA_DIR, 'turn-secret'))).toThrow();
    } finally {
      await t.stop();
    }
  });

  it('without TURN_SECRET the persisted secret in DATA_DIR is used', async () => {
    const t = await startTestServer({ ICE_TOKEN, TURN_ENABLED: 'true', TURN_PORT: '34782' }, { relayModule: fakeRelay, waitForRelayMs: 5000 });
    try {
      const secret = readFileSync(path.join(t.config.DATA_DIR, 'turn-secret'), 'utf8').trim();
      const turn = (await iceGet(`${t.server.url}/api/ice-servers`)).json<IceServersResponse>().iceServers[1]!;
      expect(turn.credential).toBe(hmac(secret, turn.username!));
    } finally {
      await t.stop();
    }
  });

  it('an invalid TURN_PUBLIC_HOST or TURN_URLS entry refuses to start, naming the variable', async () => {
    await expect(startTestServer({ ICE_TOKEN, TURN_PUBLIC_HOST: 'bad host!' })).rejects.toThrow(/TURN_PUBLIC_HOST/);
    await expect(startTestServer({ ICE_TOKEN, TURN_URLS: 'http://x' })).rejects.toThrow(/TURN_URLS/);
  });
});
