/**
 * The Origin check (ALLOWED_ORIGINS) on Socket.IO handshakes and /api/*, over the real stack: a
 * foreign Origin is refused (WebSocket and long-polling), the page's own origin and requests
 * without an Origin (non-browser clients) work, refusals are counted in /metrics; an explicit list
 * replaces the default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsGet } from '../server/httpGet.js';
import { emitAck, startTestServer, type TestServer } from './harness.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function originRefusals(server: TestServer, surface: string): Promise<number> {
  const text = (await httpsGet(`${server.server.url}/metrics`)).body;
  const m = new RegExp(`^webrtc_origin_refused_total\\{surface="${surface}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('Origin check (default: self)', () => {
  it('a Socket.IO connection with a foreign Origin is refused, over WebSocket and long-polling', async () => {
    const before = await originRefusals(t, 'socketio');
    await expect(t.connect({ extraHeaders: { origin: 'https://evil.example' } })).rejects.toThrow();
    await expect(t.connect({ transports: ['polling'], extraHeaders: { origin: 'https://evil.example' } })).rejects.toThrow();
    // Same host name, other scheme; and the opaque origin of sandboxed frames.
    await expect(t.connect({ extraHeaders: { origin: 'null' } })).rejects.toThrow();
    expect(await originRefusals(t, 'socketio')).toBe(before + 3);
    expect(t.server.signaling.socketCount()).toBe(0);
  });

  it("the page's own origin works, and so do clients that send no Origin", async () => {
    const own = new URL(t.server.url).origin; // https://127.0.0.1:PORT: the Host header the client sends
    const a = await t.connect({ extraHeaders: { origin: own } });
    expect(await emitAck(a, 'join', '9100001')).toEqual({ ok: true });
    const b = await t.connect({ transports: ['polling'], extraHeaders: { origin: own } });
    expect(await emitAck(b, 'join', '9100001')).toEqual({ ok: true });
    const plain = await t.connect();
    expect(await emitAck(plain, 'join', '9100002')).toEqual({ ok: true });
    // Same host, another port than the Host header names: not the page's origin.
    const port = Number(new URL(t.server.url).port);
    await expect(t.connect({ extraHeaders: { origin: `https://127.0.0.1:${port + 1}` } })).rejects.toThrow();
    for (const s of [a, b, plain]) s.disconnect();
  });

  it('/api/* refuses a foreign Origin with 403 and serves the own origin and origin-less requests', async () => {
    const before = await originRefusals(t, 'api');
    const own = new URL(t.server.url).origin;
    const foreign = await httpsGet(`${t.server.url}/api/no-such-thing`, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.json()).toEqual({ error: 'origin not allowed' });
    expect((await httpsGet(`${t.server.url}/api/no-such-thing`, { origin: own })).status).toBe(404);
    expect((await httpsGet(`${t.server.url}/api/no-such-thing`)).status).toBe(404);
    expect(await originRefusals(t, 'api')).toBe(before + 1);
    // Pages and health checks are not behind the check.
    expect((await httpsGet(`${t.server.url}/healthz`, { origin: 'https://evil.example' })).status).toBe(200);
  });
});

describe('ALLOWED_ORIGINS set explicitly', () => {
  it('allows exactly the listed origins (self only when listed)', async () => {
    const t2 = await startTestServer({ ALLOWED_ORIGINS: 'https://app.example.com' });
    try {
      const own = new URL(t2.server.url).origin;
      const app = await t2.connect({ extraHeaders: { origin: 'https://app.example.com' } });
      await expect(t2.connect({ extraHeaders: { origin: own } })).rejects.toThrow();
      app.disconnect();
    } finally {
      await t2.stop();
    }
  });
});
