/**
 * The HTTPS app over a real TLS socket: health and readiness, security headers (CSP), static
 * files without directory listing, JSON 404 for /api, no plain HTTP on the port.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../signaling/harness.js';
import { httpsGet } from './httpGet.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  const client = path.join(t.dir, 'client');
  mkdirSync(path.join(client, 'assets', 'sub'), { recursive: true });
  writeFileSync(path.join(client, 'index.html'), '<!doctype html><title>call</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(path.join(client, 'trickle-ice.html'), '<!doctype html><title>trickle</title>');
  writeFileSync(path.join(client, 'assets', 'app.js'), 'console.log(1);');
  writeFileSync(path.join(client, 'assets', 'sub', 'x.txt'), 'x');
  writeFileSync(path.join(client, '.secret'), 'hidden');
});
afterAll(async () => {
  await t?.stop();
});

describe('health', () => {
  it('GET /healthz → 200 {status:"ok"}', async () => {
    const r = await httpsGet(`${t.server.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('GET /readyz → 200 when HTTPS and signaling are up and the relay is disabled', async () => {
    const r = await httpsGet(`${t.server.url}/readyz`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: 'ready', checks: { https: true, signaling: true, relay: 'disabled' } });
  });
});

describe('security headers', () => {
  it('sends a Content-Security-Policy the client satisfies (no inline scripts, wss: allowed, media from blob:/mediastream:)', async () => {
    const r = await httpsGet(`${t.server.url}/`);
    const csp = String(r.headers['content-security-policy']);
    const directives = Object.fromEntries(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    expect(directives['default-src']).toEqual(["'self'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['script-src-attr']).toEqual(["'none'"]);
    expect(directives['connect-src']).toEqual(["'self'", 'wss:']);
    expect(directives['media-src']).toEqual(["'self'", 'blob:', 'mediastream:']);
    expect(directives['img-src']).toEqual(["'self'", 'data:', 'blob:']);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(r.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-powered-by']).toBeUndefined();
  });

  it('API responses carry the security headers too', async () => {
    const r = await httpsGet(`${t.server.url}/api/ice-servers`); // a refusal (no ICE_TOKEN) is an API response too
    expect(r.headers['content-security-policy']).toBeDefined();
  });
});

describe('static files', () => {
  it('serves index.html at / and the built assets', async () => {
    const r = await httpsGet(`${t.server.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/html/);
    expect(r.body).toContain('<title>call</title>');
    const js = await httpsGet(`${t.server.url}/assets/app.js`);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers['cache-control']).toBe('no-cache');
  });

  it('serves /trickle-ice without the .html extension', async () => {
    const r = await httpsGet(`${t.server.url}/trickle-ice`);
    expect(r.status).toBe(200);
    expect(r.body).toContain('trickle');
  });

  it.each(['/assets/', '/assets', '/assets/sub/', '/assets/sub'])('no directory listing for %s (404, file names not shown)', async (p) => {
    const r = await httpsGet(`${t.server.url}${p}`);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain('app.js');
    expect(r.body).not.toContain('x.txt');
  });

  it('does not serve dotfiles or paths outside the client directory', async () => {
    expect((await httpsGet(`${t.server.url}/.secret`)).status).toBe(404);
    const r = await httpsGet(`${t.server.url}/..%2f..%2fetc%2fpasswd`);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.body).not.toContain('root:');
  });
});

describe('api', () => {
  it.each(['/api/nope', '/api', '/api/ice-servers/extra'])('unknown %s → JSON 404', async (p) => {
    const r = await httpsGet(`${t.server.url}${p}`);
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(r.json()).toEqual({ error: 'not found' });
  });
});

describe('transport', () => {
  it('there is no plain-HTTP listener: HTTP on the port gets no HTTP response', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpGet(`http://127.0.0.1:${t.server.port}/healthz`, (res) => resolve(`status ${res.statusCode}`));
      req.setTimeout(3000, () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve(`error ${e.message}`));
    });
    expect(outcome).toMatch(/^error/);
  });
});
