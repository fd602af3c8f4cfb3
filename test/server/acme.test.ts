/**
 * ACME without a CA: the renewal schedule and retry backoff, the manager keeping the last good
 * certificate when the CA fails (logged, counted, retried later), the plain-HTTP app (HTTP-01
 * challenge route and redirect to HTTPS) and the ACME settings. The whole flow against a real CA
 * (pebble) is test/acme/acme.test.ts.
 */
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acmePaths } from '../../common/tlsFiles.js';
import { LETSENCRYPT_PRODUCTION, loadConfig } from '../../contracts/config.js';
import { AcmeManager, renewalTime, retryDelayMs } from '../../server/acme.js';
import { createHttpApp } from '../../server/acmeHttp.js';
import { makePair, recordingLogger, writePair } from './tlsPairs.js';

const dirs: string[] = [];
const servers: Server[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'webrtc-call-acme-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

function fetchPlain(port: number, p: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: p, headers, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

const DAY = 24 * 3600_000;

describe('schedule', () => {
  it('renews at two thirds of the lifetime: day 60 of a 90-day certificate', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    expect(renewalTime(from, new Date(from.getTime() + 90 * DAY)).toISOString()).toBe('2026-03-02T00:00:00.000Z');
  });

  it('retries after 1, 2, 4 … minutes, at most 6 hours', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n))).toEqual([60_000, 120_000, 240_000, 480_000]);
    expect(retryDelayMs(20)).toBe(6 * 3600_000);
    expect(retryDelayMs(1000)).toBe(6 * 3600_000);
  });
});

describe('AcmeManager', () => {
  const NAMES = ['call.example.test'];

  it('orders nothing while the certificate on disk is not due, and says when it will', async () => {
    let hits = 0;
    const port = await listen((_req, res) => {
      hits++;
      res.statusCode = 500;
      res.end();
    });
    const certsDir = tmp();
    writePair(acmePaths(certsDir).dir, await makePair(NAMES, new Date(Date.now() - DAY), new Date(Date.now() + 89 * DAY)));
    const log = recordingLogger();
    let issued = 0;
    const m = new AcmeManager({ domains: NAMES, directoryUrl: `http://127.0.0.1:${port}/dir`, certsDir, logger: log, onCertificate: () => issued++ });
    m.start();
    await new Promise((r) => setTimeout(r, 300));
    m.stop();
    expect(hits).toBe(0);
    expect(issued).toBe(0);
    const due = m.status().nextAttempt!.getTime();
    expect(Math.abs(due - (Date.now() - DAY + 60 * DAY))).toBeLessThan(5 * 60_000);
    expect(log.lines.some((l) => /^info acme: certificate for call\.example\.test is good; renewal due/.test(l))).toBe(true);
  });

  it('orders at once when the certificate on disk came from another ACME directory (staging → production)', async () => {
    let hits = 0;
    const port = await listen((_req, res) => {
      hits++;
      res.statusCode = 403;
      res.end();
    });
    const certsDir = tmp();
    const paths = acmePaths(certsDir);
    writePair(paths.dir, await makePair(NAMES, new Date(Date.now() - DAY), new Date(Date.now() + 89 * DAY)));
    writeFileSync(paths.meta, JSON.stringify({ directory: 'https://acme-staging-v02.api.letsencrypt.org/directory' }));
    const log = recordingLogger();
    const m = new AcmeManager({ domains: NAMES, directoryUrl: `http://127.0.0.1:${port}/dir`, certsDir, logger: log, onCertificate: () => undefined });
    m.start();
    const deadline = Date.now() + 10_000;
    while (m.status().ordersFailed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    m.stop();
    expect(hits).toBeGreaterThan(0);
    expect(log.lines.some((l) => l.includes('is from another ACME directory (https://acme-staging-v02.api.letsencrypt.org/directory): ordering a new one'))).toBe(true);
  });

  it('keeps the last good certificate when the CA fails, logs why and retries later', async () => {
    let hits = 0;
    const port = await listen((_req, res) => {
      hits++;
      res.statusCode = 403;
      res.setHeader('Content-Type', 'application/problem+json');
      res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'closed for the test' }));
    });
    const certsDir = tmp();
    // Due: two thirds of its 3-hour life are over.
    const files = writePair(acmePaths(certsDir).dir, await makePair(NAMES, new Date(Date.now() - 2.5 * 3600_000), new Date(Date.now() + 0.5 * 3600_000)));
    const before = readFileSync(files.cert, 'utf8');
    const log = recordingLogger();
    let issued = 0;
    const m = new AcmeManager({ domains: NAMES, directoryUrl: `http://127.0.0.1:${port}/dir`, certsDir, logger: log, onCertificate: () => issued++, retryMinMs: 120_000 });
    m.start();
    const deadline = Date.now() + 10_000;
    while (m.status().ordersFailed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    m.stop();
    const st = m.status();
    expect(hits).toBeGreaterThan(0);
    expect(st).toMatchObject({ ordersFailed: 1, ordersSucceeded: 0, consecutiveFailures: 1 });
    expect(st.lastError).toMatch(/403/);
    expect(Math.abs(st.nextAttempt!.getTime() - (Date.now() + 120_000))).toBeLessThan(5000);
    expect(issued).toBe(0);
    expect(readFileSync(files.cert, 'utf8')).toBe(before);
    const warn = log.lines.find((l) => l.startsWith('warn acme: could not obtain a certificate'));
    expect(warn).toMatch(/call\.example\.test.*403.*keeping the current certificate, retrying in 120 s/);
  });
});

describe('plain-HTTP app', () => {
  const keys = new Map([['Tok_en-0123456789abcdef', 'Tok_en-0123456789abcdef.thumbprint']]);

  it('answers a current HTTP-01 token with its key authorization, anything else 404', async () => {
    const port = await listen(createHttpApp({ httpsPort: 8443, keyAuthorization: (t) => keys.get(t) }));
    const ok = await fetchPlain(port, '/.well-known/acme-challenge/Tok_en-0123456789abcdef', { Host: 'call.example.test' });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('Tok_en-0123456789abcdef.thumbprint');
    expect(String(ok.headers['content-type'])).toMatch(/^text\/plain/);
    expect((await fetchPlain(port, '/.well-known/acme-challenge/unknown-token-0123456789', { Host: 'call.example.test' })).status).toBe(404);
    expect((await fetchPlain(port, '/.well-known/acme-challenge/bad%2Ftoken', { Host: 'call.example.test' })).status).toBe(404);
  });

  it('redirects everything else to HTTPS with path and query; 308 keeps the method; bad Host → 400', async () => {
    const port = await listen(createHttpApp({ httpsPort: 8443 }));
    const r = await fetchPlain(port, '/trickle-ice.html?x=1', { Host: 'call.example.test:80' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://call.example.test:8443/trickle-ice.html?x=1');
    // Without ACME the challenge path is redirected like anything else.
    expect((await fetchPlain(port, '/.well-known/acme-challenge/Tok_en-0123456789abcdef', { Host: 'call.example.test' })).status).toBe(301);
    expect((await fetchPlain(port, '/api/x', { Host: '[2001:db8::1]:80' }, 'POST')).headers.location).toBe('https://[2001:db8::1]:8443/api/x');
    expect((await fetchPlain(port, '/api/x', { Host: 'call.example.test' }, 'POST')).status).toBe(308);
    expect((await fetchPlain(port, '/', { Host: 'bad host' })).status).toBe(400);
    const on443 = await listen(createHttpApp({ httpsPort: 443 }));
    expect((await fetchPlain(on443, '/?room=1', { Host: 'call.example.test' })).headers.location).toBe('https://call.example.test/?room=1');
  });
});

describe('ACME settings', () => {
  const cfg = (env: Record<string, string>) => loadConfig(env);

  it('defaults: Let\'s Encrypt production; HTTP_PORT 80 with ACME_DOMAIN, otherwise no plain-HTTP listener', () => {
    expect(cfg({}).ACME_DIRECTORY).toBe(LETSENCRYPT_PRODUCTION);
    expect(cfg({}).HTTP_PORT).toBeUndefined();
    expect(cfg({ ACME_DOMAIN: 'Call.Example.com., www.example.com' })).toMatchObject({ ACME_DOMAIN: ['call.example.com', 'www.example.com'], HTTP_PORT: 80 });
    expect(cfg({ ACME_DOMAIN: 'call.example.com', HTTP_PORT: 'off' }).HTTP_PORT).toBeUndefined();
    expect(cfg({ HTTP_PORT: '8080' }).HTTP_PORT).toBe(8080);
  });

  it('refuses wildcards, IP addresses, a non-https directory, a bad e-mail, and ACME together with TLS_CERT', () => {
    expect(() => cfg({ ACME_DOMAIN: '*.example.com' })).toThrow(/ACME_DOMAIN.*no wildcards/);
    expect(() => cfg({ ACME_DOMAIN: '203.0.113.5' })).toThrow(/ACME_DOMAIN/);
    expect(() => cfg({ ACME_DOMAIN: ' , ' })).toThrow(/ACME_DOMAIN: names no domain/);
    expect(() => cfg({ ACME_DIRECTORY: 'http://acme.example.com/dir' })).toThrow(/ACME_DIRECTORY: must be an https:\/\/ URL/);
    expect(() => cfg({ ACME_EMAIL: 'nobody' })).toThrow(/ACME_EMAIL/);
    expect(() => cfg({ ACME_DOMAIN: 'call.example.com', TLS_CERT: 'a.pem', TLS_KEY: 'b.pem' })).toThrow(/ACME_DOMAIN and TLS_CERT\/TLS_KEY are alternatives/);
    expect(() => cfg({ HTTP_PORT: '70000' })).toThrow(/HTTP_PORT/);
  });
});
