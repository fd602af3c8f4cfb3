/**
 * GET /metrics: bearer token, signaling counters that follow real Socket.IO traffic, relay stats
 * from the (stand-in) relay child via IPC, process metrics.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitAck, nextEvent, startTestServer, type TestServer } from '../signaling/harness.js';
import { httpsGet } from './httpGet.js';

const TOKEN = 'metrics-token-0123456789';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer(
    { TURN_ENABLED: 'true', TURN_SECRET: 's', TURN_PORT: '34790', METRICS_TOKEN: TOKEN },
    { relayModule: path.resolve('test/server/fixtures/fake-relay.mjs'), waitForRelayMs: 5000 },
  );
});
afterAll(async () => {
  await t?.stop();
});

/** Parse one sample value from the exposition text, e.g. `webrtc_signaling_joins_total{kind="new"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const scrape = async () => {
  const r = await httpsGet(`${t.server.url}/metrics`, { authorization: `Bearer ${TOKEN}` });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toMatch(/text\/plain/);
  return r.body;
};

describe('/metrics', () => {
  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    expect((await httpsGet(`${t.server.url}/metrics`)).status).toBe(401);
    expect((await httpsGet(`${t.server.url}/metrics`, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await httpsGet(`${t.server.url}/metrics`, { authorization: `Basic ${TOKEN}` })).status).toBe(401);
  });

  it('counts rooms, sockets, joins, full, messages and refusals from real traffic', async () => {
    const before = await scrape();
    const joins0 = sample(before, 'webrtc_signaling_joins_total{kind="new"}') ?? 0;
    const relayed0 = sample(before, 'webrtc_signaling_messages_relayed_total') ?? 0;
    const [a, b, c] = await Promise.all([t.connect(), t.connect(), t.connect()]);
    await emitAck(a, 'join', '777');
    const other = nextEvent(a, 'otherjoin');
    await emitAck(b, 'join', '777');
    await other;
    await emitAck(c, 'join', '777'); // full
    const m = nextEvent(b, 'message');
    a.emit('message', '777', { type: 'offer', sdp: 'v=0' });
    await m;
    await emitAck(c, 'message', '777', { type: 'offer', sdp: 'v=0' }); // not-a-member
    await emitAck(a, 'join', 'bad'); // invalid-room

    const text = await scrape();
    expect(sample(text, 'webrtc_signaling_rooms')).toBe(1);
    expect(sample(text, 'webrtc_signaling_seats{state="connected"}')).toBe(2);
    expect(sample(text, 'webrtc_signaling_sockets')).toBe(3);
    expect(sample(text, 'webrtc_signaling_joins_total{kind="new"}')).toBe(joins0 + 2);
    expect(sample(text, 'webrtc_signaling_full_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'webrtc_signaling_messages_relayed_total')).toBe(relayed0 + 1);
    expect(sample(text, 'webrtc_signaling_refused_total{reason="not-a-member"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'webrtc_signaling_refused_total{reason="invalid-room"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'webrtc_signaling_refused_by_event_total{event="message"}')).toBeGreaterThanOrEqual(1);
    for (const s of [a, b, c]) s.disconnect();
  });

  it('includes relay stats fetched from the relay child and process metrics', async () => {
    const text = await scrape();
    expect(sample(text, 'webrtc_turn_up')).toBe(1);
    expect(sample(text, 'webrtc_turn_allocations')).toBe(2);
    expect(sample(text, 'webrtc_turn_allocations_total{event="created"}')).toBe(5);
    expect(sample(text, 'webrtc_turn_requests_total{method="Allocate"}')).toBe(7);
    expect(sample(text, 'webrtc_turn_error_responses_total{code="401"}')).toBe(5);
    expect(sample(text, 'webrtc_turn_auth_total{result="failure",reason="wrong_password"}')).toBe(2);
    expect(sample(text, 'webrtc_turn_relayed_bytes_total{direction="client_to_peer"}')).toBe(10000);
    expect(sample(text, 'webrtc_turn_dropped_total{reason="bad_cookie"}')).toBe(3);
    expect(sample(text, 'webrtc_turn_connections_total{transport="tcp"}')).toBe(6);
    expect(text).toMatch(/^webrtc_process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^webrtc_nodejs_eventloop_lag_seconds /m);
  });

  it('is open without METRICS_TOKEN, and has no turn_* series when the relay is disabled', async () => {
    const t2 = await startTestServer();
    try {
      const r = await httpsGet(`${t2.server.url}/metrics`);
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/^webrtc_signaling_rooms 0$/m);
      expect(r.body).not.toMatch(/webrtc_turn_/);
    } finally {
      await t2.stop();
    }
  });
});
