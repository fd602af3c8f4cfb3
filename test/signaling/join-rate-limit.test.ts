/**
 * The per-address join limit over the real stack, with the default settings: 200 rapid joins to
 * different rooms from one address are limited (`rate-limited`, counted in /metrics as
 * `join-rate-limited`), while another address (named by a trusted proxy's X-Forwarded-For) is not
 * affected; with TRUST_PROXY=off the header is ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsGet } from '../server/httpGet.js';
import { emitAck, startTestServer, type ClientSocket, type TestServer } from './harness.js';

type AckRes = { ok: boolean; error?: { code: string; event: string } };

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

async function metric(server: TestServer, reason: string): Promise<number> {
  const text = (await httpsGet(`${server.server.url}/metrics`)).body;
  const m = new RegExp(`^webrtc_signaling_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * `count` joins to different rooms, spread over `sockets` (each socket leaves a room it got
 * before joining the next, so the per-socket one-room rule does not interfere).
 */
async function joinMany(sockets: ClientSocket[], count: number, firstRoom: number): Promise<{ joined: number; limited: number; other: string[] }> {
  let next = 0;
  const out = { joined: 0, limited: 0, other: [] as string[] };
  await Promise.all(
    sockets.map(async (s) => {
      while (next < count) {
        const room = String(firstRoom + next++);
        const r = (await emitAck(s, 'join', room)) as AckRes;
        if (r.ok) {
          out.joined++;
          await emitAck(s, 'leave', room);
        } else if (r.error?.code === 'rate-limited') out.limited++;
        else out.other.push(r.error?.code ?? '?');
      }
    }),
  );
  return out;
}

describe('join rate limit per client address (defaults)', () => {
  it('200 rapid joins to different rooms from one address are limited, and /metrics shows it', async () => {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => t.connect()));
    const started = Date.now();
    const r = await joinMany(sockets, 200, 8_100_000);
    const seconds = (Date.now() - started) / 1000;
    expect(r.other).toEqual([]);
    expect(r.joined + r.limited).toBe(200);
    // Burst JOIN_RATE_BURST (60), refill JOIN_RATE_PER_MIN (30/min) during the run.
    expect(r.joined).toBeLessThanOrEqual(t.config.JOIN_RATE_BURST + Math.ceil((seconds * t.config.JOIN_RATE_PER_MIN) / 60) + 1);
    expect(r.limited).toBeGreaterThanOrEqual(100);
    expect(await metric(t, 'join-rate-limited')).toBe(r.limited);

    // Another address behind the trusted proxy (loopback, the default TRUST_PROXY) still joins:
    // the proxy appended the address it saw; what the client claimed further left does not count.
    const proxied = await t.connect({ extraHeaders: { 'x-forwarded-for': '203.0.113.9, 198.51.100.7' } });
    expect(await emitAck(proxied, 'join', '8199999')).toEqual({ ok: true });
    const limitedAgain = await t.connect();
    expect(await emitAck(limitedAgain, 'join', '8199998')).toMatchObject({ ok: false, error: { code: 'rate-limited' } });
    for (const s of [...sockets, proxied, limitedAgain]) s.disconnect();
  });

  it('with TRUST_PROXY=off, X-Forwarded-For is ignored', async () => {
    const t2 = await startTestServer({ TRUST_PROXY: 'off', JOIN_RATE_BURST: '3', JOIN_RATE_PER_MIN: '1' });
    try {
      const s = await t2.connect({ extraHeaders: { 'x-forwarded-for': '198.51.100.1' } });
      const r = await joinMany([s], 5, 8_200_000);
      expect(r).toEqual({ joined: 3, limited: 2, other: [] });
      const other = await t2.connect({ extraHeaders: { 'x-forwarded-for': '198.51.100.2' } });
      expect(await emitAck(other, 'join', '8200010')).toMatchObject({ ok: false, error: { code: 'rate-limited' } });
      s.disconnect();
      other.disconnect();
    } finally {
      await t2.stop();
    }
  });
});
