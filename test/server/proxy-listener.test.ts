/**
 * The plain-HTTP listener for a TLS-terminating reverse proxy (PROXY_HTTP_PORT): loopback only by
 * default (a public address is refused), the same pages, health and Socket.IO signaling as HTTPS
 * with rooms shared across both listeners, requests treated as proxied HTTPS (X-Forwarded-Proto
 * honoured there only), off when unset.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import { io as ioClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, isLoopbackAddress, loadConfig } from '../../contracts/config.js';
import { generateSelfSigned } from '../../server/certs.js';
import { createProxyServer, forwardedProto } from '../../server/proxyListener.js';
import { nextEvent, startTestServer, type ClientSocket, type TestServer } from '../signaling/harness.js';
import { httpsGet, type HttpResponse } from './httpGet.js';

/** Plain HTTP GET (5 s timeout). */
function plainGet(url: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('configuration', () => {
  it('is off unless PROXY_HTTP_PORT is set; binds 127.0.0.1 by default', () => {
    expect(loadConfig({}).PROXY_HTTP_PORT).toBeUndefined();
    const c = loadConfig({ PROXY_HTTP_PORT: '8080' });
    expect(c.PROXY_HTTP_PORT).toBe(8080);
    expect(c.PROXY_HTTP_HOST).toBe('127.0.0.1');
  });

  it.each(['0.0.0.0', '::', '192.0.2.10', '2001:db8::1'])('refuses the non-loopback address %s without PROXY_HTTP_ALLOW_REMOTE', (host) => {
    expect(() => loadConfig({ PROXY_HTTP_PORT: '8080', PROXY_HTTP_HOST: host })).toThrow(ConfigError);
    expect(() => loadConfig({ PROXY_HTTP_PORT: '8080', PROXY_HTTP_HOST: host })).toThrow(/PROXY_HTTP_HOST: must be a loopback address/);
    expect(loadConfig({ PROXY_HTTP_PORT: '8080', PROXY_HTTP_HOST: host, PROXY_HTTP_ALLOW_REMOTE: 'true' }).PROXY_HTTP_HOST).toBe(host);
  });

  it('accepts every loopback address', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['128.0.0.1', '::', '::2', '1::1', '10.0.0.1', '::ffff:10.0.0.1', 'localhost']) expect(isLoopbackAddress(a), a).toBe(false);
    expect(() => loadConfig({ PROXY_HTTP_HOST: 'localhost' })).toThrow(/PROXY_HTTP_HOST/);
  });
});

describe('proxied-HTTPS semantics', () => {
  it('forwardedProto: the proxy may say http; anything else is https', () => {
    expect(forwardedProto(undefined)).toBe('https');
    expect(forwardedProto('https')).toBe('https');
    expect(forwardedProto('HTTP')).toBe('http');
    expect(forwardedProto('http, https')).toBe('http');
    expect(forwardedProto('gopher')).toBe('https');
    expect(forwardedProto(['http'])).toBe('http');
  });

  it('req.protocol/req.secure follow X-Forwarded-Proto on the proxy listener only', async () => {
    const app = express();
    app.get('/p', (req, res) => void res.json({ protocol: req.protocol, secure: req.secure }));
    const proxy = createProxyServer(app);
    const dir = mkdtempSync(path.join(tmpdir(), 'proxy-listener-'));
    const pem = await generateSelfSigned(dir);
    const https = createHttpsServer({ cert: pem.cert, key: pem.key }, app);
    const listen = (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
    try {
      const p = await listen(proxy);
      const h = await listen(https);
      expect((await plainGet(`http://127.0.0.1:${p}/p`)).json()).toEqual({ protocol: 'https', secure: true });
      expect((await plainGet(`http://127.0.0.1:${p}/p`, { 'x-forwarded-proto': 'https' })).json()).toEqual({ protocol: 'https', secure: true });
      expect((await plainGet(`http://127.0.0.1:${p}/p`, { 'x-forwarded-proto': 'http' })).json()).toEqual({ protocol: 'http', secure: false });
      // The HTTPS listener ignores the header: nobody in front of it speaks for the client.
      expect((await httpsGet(`https://127.0.0.1:${h}/p`, { 'x-forwarded-proto': 'http' })).json()).toEqual({ protocol: 'https', secure: true });
    } finally {
      proxy.close();
      https.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the proxy listener of a running server', () => {
  let t: TestServer;
  let base: string;
  const plainClients: ClientSocket[] = [];

  beforeAll(async () => {
    t = await startTestServer({ PROXY_HTTP_PORT: '0' });
    base = `http://127.0.0.1:${t.server.proxyHttpPort}`;
    const client = path.join(t.dir, 'client');
    mkdirSync(client, { recursive: true });
    writeFileSync(path.join(client, 'index.html'), '<!doctype html><title>call page</title>');
  });
  afterAll(async () => {
    for (const c of plainClients) c.disconnect();
    await t?.stop();
  });

  const connectPlain = () =>
    new Promise<ClientSocket>((resolve, reject) => {
      const s: ClientSocket = ioClient(base, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 5000 });
      plainClients.push(s);
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });

  it('listens on 127.0.0.1 only (default PROXY_HTTP_HOST)', () => {
    expect(t.server.proxyHttp!.address()).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
  });

  it('serves the page and /healthz with the HTTPS app\'s headers (HSTS, CSP)', async () => {
    const page = await plainGet(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>call page</title>');
    expect(page.headers['strict-transport-security']).toMatch(/max-age=/);
    expect(page.headers['content-security-policy']).toContain("connect-src 'self' wss:");
    const health = await plainGet(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
  });

  it('serves the Socket.IO client bundle, as HTTPS does', async () => {
    const r = await plainGet(`${base}/socket.io/socket.io.js`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/javascript/);
  });

  it('one Socket.IO server: a peer on the proxy listener and one on HTTPS share a room', async () => {
    const room = '31337';
    const a = await connectPlain();
    const b = await t.connect();
    const ja = nextEvent(a, 'joined');
    a.emit('join', room);
    await ja;
    const other = nextEvent<[string, string]>(a, 'otherjoin');
    const jb = nextEvent(b, 'joined');
    b.emit('join', room);
    await Promise.all([jb, other]);

    const offer = { type: 'offer' as const, sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
    const got = nextEvent<[string, unknown]>(b, 'message');
    a.emit('message', room, offer);
    expect(await got).toEqual([room, offer]);
    const answer = { type: 'answer' as const, sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
    const back = nextEvent<[string, unknown]>(a, 'message');
    b.emit('message', room, answer);
    expect(await back).toEqual([room, answer]);

    // The room holds two, whichever listener the third comes through.
    const c = await connectPlain();
    const full = nextEvent(c, 'full');
    c.emit('join', room);
    await full;
    expect(t.server.signaling.socketCount()).toBe(3);
  });

  it('closes with the server', async () => {
    const s = await startTestServer({ PROXY_HTTP_PORT: '0' });
    const port = s.server.proxyHttpPort!;
    await s.stop();
    await expect(plainGet(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
