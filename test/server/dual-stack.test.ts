/**
 * The HTTPS server's default listen (`HTTPS_HOST` unset = `::`) answers on IPv6 and IPv4 alike:
 * `https://[::1]:PORT/healthz` and `https://127.0.0.1:PORT/healthz`. Skipped, loudly, on a host
 * without IPv6 loopback.
 */
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../signaling/harness.js';
import { httpsGet } from './httpGet.js';

const hasV6Loopback = Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === '::1'));
if (!hasV6Loopback) console.warn('SKIPPING dual-stack tests: this host has no ::1');

describe.skipIf(!hasV6Loopback)('default HTTPS listen is dual-stack', () => {
  let t: TestServer;
  beforeAll(async () => {
    // An empty value counts as unset: the default listen address.
    t = await startTestServer({ HTTPS_HOST: '' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('listens on :: by default', () => {
    expect(t.config.HTTPS_HOST).toBe('::');
    expect(t.server.https.address()).toMatchObject({ address: '::', family: 'IPv6' });
  });

  it.each(['[::1]', '127.0.0.1'])('https://%s:PORT/healthz answers', async (host) => {
    const r = await httpsGet(`https://${host}:${t.server.port}/healthz`);
    expect(r.status).toBe(200);
  });
});
