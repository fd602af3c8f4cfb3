/**
 * Webhooks from signaling against the real server (in-process) and real socket.io-client members:
 * a scripted call gives room.join ×2, call.start, then call.end with its duration, all signed; a
 * third person gets room.full, bad joins room.refused with their code. A receiver that is down
 * (connection refused) or hangs (never answers) loses no signaling message and does not hold up
 * joins; the bounded queue drops and counts what does not fit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSelfSigned } from '../../server/certs.js';
import type { WebhookEvent } from '../../contracts/webhooks.js';
import { emitAck, nextEvent, sleep, startTestServer, type ClientSocket, type TestServer } from '../signaling/harness.js';
import { freeTcpPort } from '../helpers/ports.js';
import { httpsGet } from './httpGet.js';
import { WebhookReceiver, signatureValid } from './webhookReceiver.js';

const SECRET = 'webhook-test-secret-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function metric(t: TestServer, series: string): Promise<number | undefined> {
  const body = (await httpsGet(`${t.server.url}/metrics`)).body;
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('webhooks of a scripted call', () => {
  let receiver: WebhookReceiver;
  let t: TestServer;
  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    t = await startTestServer({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('room.join ×2, call.start, room.full, room.refused, then room.leave and call.end with the duration; every request signed', async () => {
    const room = '424242';
    const session = 'session-token-that-must-not-leak-0001';
    const a: ClientSocket = await t.connect();
    const b: ClientSocket = await t.connect();
    expect(await emitAck(a, 'join', room, { session })).toEqual({ ok: true });
    const otherjoin = nextEvent(a, 'otherjoin');
    const beforeSecondJoin = Date.now();
    expect(await emitAck(b, 'join', room)).toEqual({ ok: true });
    await otherjoin;
    // Signaling works as before: B's offer reaches A.
    const got = nextEvent(a, 'message');
    b.emit('message', room, { type: 'offer', sdp: 'v=0\r\n' });
    expect((await got)[1]).toEqual({ type: 'offer', sdp: 'v=0\r\n' });

    const c = await t.connect();
    const full = nextEvent(c, 'full');
    c.emit('join', room);
    await full;
    const d = await t.connect();
    const bad = nextEvent<[{ code: string }]>(d, 'error');
    d.emit('join', 'not a room');
    expect((await bad)[0].code).toBe('invalid-room');
    const again = nextEvent<[{ code: string }]>(a, 'error');
    a.emit('join', '777');
    expect((await again)[0].code).toBe('already-joined');

    await sleep(300);
    const bye = nextEvent(b, 'bye');
    expect(await emitAck(a, 'leave', room)).toEqual({ ok: true });
    await bye;
    const endedNear = Date.now();

    await receiver.waitFor(() => receiver.events('call.end').length === 1 && receiver.events('room.refused').length === 2, 'call.end and two room.refused');
    await sleep(200); // nothing more should arrive
    const mine = (e: WebhookEvent) => !('room' in e.data) || e.data.room === room || e.data.room === '777';
    const events = receiver.received.map((r) => r.event).filter(mine);
    const types = events.map((e) => e.type).sort();
    expect(types).toEqual(['call.end', 'call.start', 'room.full', 'room.join', 'room.join', 'room.leave', 'room.refused', 'room.refused'].sort());

    const joins = receiver.events('room.join');
    expect(joins.map((e) => e.data.socketId).sort()).toEqual([a.id, b.id].sort());
    expect(joins.find((e) => e.data.socketId === b.id)!.data).toEqual({ room, socketId: b.id, members: 2, polite: true, resumed: false });
    const [start] = receiver.events('call.start');
    const [end] = receiver.events('call.end');
    expect(start!.data.socketIds).toEqual([a.id, b.id]);
    expect(start!.data.callId).toMatch(/^[0-9a-f]{32}$/);
    expect(end!.data.callId).toBe(start!.data.callId);
    expect(end!.data.startedAt).toBe(start!.data.startedAt);
    for (const j of joins) expect(Date.parse(start!.timestamp)).toBeGreaterThanOrEqual(Date.parse(j.timestamp));
    expect(Date.parse(end!.timestamp)).toBeGreaterThan(Date.parse(start!.timestamp));
    expect(end!.data).toMatchObject({ room, reason: 'leave', socketId: a.id });
    expect(end!.data.durationMs).toBeGreaterThanOrEqual(300);
    expect(end!.data.durationMs).toBeLessThanOrEqual(endedNear - beforeSecondJoin + 20);
    expect(receiver.events('room.leave')[0]!.data).toEqual({ room, socketId: a.id, reason: 'leave', members: 1 });
    expect(receiver.events('room.full')[0]!.data).toEqual({ room, socketId: c.id, members: 2 });
    const refused = receiver.events('room.refused').map((e) => e.data);
    expect(refused).toContainEqual({ socketId: d.id, code: 'invalid-room' });
    expect(refused).toContainEqual({ room: '777', socketId: a.id, code: 'already-joined' });

    const ids = new Set<string>();
    for (const r of receiver.received) {
      expect(signatureValid(SECRET, r.raw, r.headers['x-webhook-signature'])).toBe(true);
      expect(signatureValid('some-other-secret-0000', r.raw, r.headers['x-webhook-signature'])).toBe(false);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.headers['x-webhook-id']).toBe(r.event.id);
      expect(r.headers['x-webhook-event']).toBe(r.event.type);
      expect(Number(r.headers['x-webhook-timestamp'])).toBe(Math.floor(Date.parse(r.event.sentAt) / 1000));
      expect(Math.abs(Date.parse(r.event.sentAt) - Date.now())).toBeLessThan(60_000);
      expect(r.event.id).toMatch(UUID);
      expect(r.event.attempt).toBe(1);
      expect(typeof r.event.nodeId).toBe('string');
      expect(r.raw.toString()).not.toContain(session);
      ids.add(r.event.id);
    }
    expect(ids.size).toBe(receiver.received.length);
    expect(await metric(t, 'webrtc_webhook_delivered_total')).toBe(receiver.received.length);
    expect(await metric(t, 'webrtc_webhook_queue_length')).toBe(0);
    expect(await metric(t, 'webrtc_webhook_events_total{type="call.end"}')).toBe(1);
  });

  it('a disconnect without a session token ends the call at once; a tampered body fails verification', async () => {
    const room = '5151';
    const a = await t.connect();
    const b = await t.connect();
    await emitAck(a, 'join', room);
    await emitAck(b, 'join', room);
    const bId = b.id;
    b.disconnect();
    await receiver.waitFor(() => receiver.events('call.end').some((e) => e.data.room === room), 'call.end of the disconnect');
    const end = receiver.events('call.end').find((e) => e.data.room === room)!;
    expect(end.data).toMatchObject({ reason: 'disconnect', socketId: bId });
    const rec = receiver.received.find((r) => r.event.id === end.id)!;
    const tampered = Buffer.from(rec.raw.toString().replace(`"durationMs":${end.data.durationMs}`, `"durationMs":${end.data.durationMs + 1}`));
    expect(tampered.equals(rec.raw)).toBe(false);
    expect(signatureValid(SECRET, tampered, rec.headers['x-webhook-signature'])).toBe(false);
  });
});

/** Join `pairs` rooms of two and exchange three messages in each; resolves join round trips (ms) and messages that arrived. */
async function scriptedRooms(t: TestServer, pairs: number, prefix: string): Promise<{ joinMs: number[]; delivered: number; sent: number }> {
  const joinMs: number[] = [];
  let delivered = 0;
  let sent = 0;
  for (let i = 0; i < pairs; i++) {
    const room = `${prefix}${i}`;
    const a = await t.connect();
    const b = await t.connect();
    for (const s of [a, b]) {
      const t0 = performance.now();
      expect(await emitAck(s, 'join', room)).toEqual({ ok: true });
      joinMs.push(performance.now() - t0);
    }
    const want = 3;
    const arrived = new Promise<void>((resolve) => {
      let n = 0;
      b.on('message', () => {
        delivered++;
        if (++n === want) resolve();
      });
    });
    for (let k = 0; k < want; k++) {
      a.emit('message', room, { type: 'candidate', label: 0, id: '0', candidate: `candidate:${k} 1 udp 1 127.0.0.1 ${5000 + k} typ host` });
      sent++;
    }
    await Promise.race([arrived, sleep(3000)]);
    a.disconnect();
    b.disconnect();
  }
  return { joinMs, delivered, sent };
}

const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;

describe('a webhook receiver that is down or hangs', () => {
  let baseline: { joinMs: number[] };
  beforeAll(async () => {
    const t = await startTestServer({});
    try {
      baseline = await scriptedRooms(t, 6, '61');
    } finally {
      await t.stop();
    }
  });

  it.each(['down', 'hang'] as const)('receiver %s: every join completes quickly, every message is relayed, the queue stays bounded and drops are counted', async (mode) => {
    const receiver = mode === 'hang' ? await WebhookReceiver.start('hang') : undefined;
    const url = receiver?.url ?? `http://127.0.0.1:${await freeTcpPort()}/hooks`;
    const t = await startTestServer({ WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET, WEBHOOK_QUEUE_SIZE: '5' });
    try {
      const r = await scriptedRooms(t, 6, mode === 'down' ? '62' : '63');
      expect(r.delivered).toBe(r.sent);
      // A join that waited for the hanging receiver would take the request timeout (5 s); loose, for a loaded machine.
      expect(Math.max(...r.joinMs)).toBeLessThan(2000);
      console.log(`join round trip with a receiver that is ${mode}: median ${median(r.joinMs).toFixed(1)} ms, max ${Math.max(...r.joinMs).toFixed(1)} ms; without webhooks: median ${median(baseline.joinMs).toFixed(1)} ms`);
      // 6 rooms: 12 room.join + 6 call.start + 12 room.leave + 6 call.end = 36 events for 5 places.
      await sleep(100);
      expect(await metric(t, 'webrtc_webhook_queue_length')).toBeLessThanOrEqual(5);
      expect(await metric(t, 'webrtc_webhook_dropped_total{reason="queue_full"}')).toBeGreaterThanOrEqual(36 - 5 - 4);
      if (mode === 'down') expect(await metric(t, 'webrtc_webhook_failed_attempts_total')).toBeGreaterThan(0);
      else expect(receiver!.received.length).toBeGreaterThan(0);
    } finally {
      await t.stop();
      await receiver?.close();
    }
  });
});

describe('an https receiver with a self-signed certificate', () => {
  it('is trusted through WEBHOOK_CA, and refused (certificate checked) without it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'webhook-ca-'));
    const tls = await generateSelfSigned(dir);
    const receiver = await WebhookReceiver.start('ok', tls);
    const servers: TestServer[] = [];
    try {
      const trusted = await startTestServer({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET, WEBHOOK_CA: tls.certPath });
      servers.push(trusted);
      const untrusted = await startTestServer({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
      servers.push(untrusted);
      for (const t of servers) {
        const s = await t.connect();
        await emitAck(s, 'join', t === trusted ? '7001' : '7002');
      }
      await receiver.waitFor(() => receiver.events('room.join').length === 1, 'room.join over https');
      expect(receiver.events('room.join')[0]!.data.room).toBe('7001');
      const deadline = Date.now() + 5000;
      while (((await metric(untrusted, 'webrtc_webhook_failed_attempts_total')) ?? 0) === 0 && Date.now() < deadline) await sleep(50);
      expect(await metric(untrusted, 'webrtc_webhook_failed_attempts_total')).toBeGreaterThan(0);
      expect(await metric(untrusted, 'webrtc_webhook_delivered_total')).toBe(0);
      expect(receiver.events('room.join').map((e) => e.data.room)).toEqual(['7001']);
    } finally {
      for (const t of servers) await t.stop();
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
