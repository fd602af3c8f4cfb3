/**
 * The webhook delivery queue (server/webhooks/queue.ts) and the signature (signer.ts): bounded
 * capacity with counted drops, retries with capped exponential backoff and a bounded number of tries,
 * no retry of a refused event, limited concurrency, shutdown; HMAC-SHA256 against RFC 4231.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import log4js from 'log4js';
import { DeliveryQueue, backoffDelay, type SendOutcome } from '../../server/webhooks/queue.js';
import { REFUSED_BURST, Webhooks } from '../../server/webhooks/webhooks.js';
import { signBody } from '../../server/webhooks/signer.js';

const until = async (cond: () => boolean, timeoutMs = 3000) => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('webhook signature', () => {
  it('is HMAC-SHA256 of the exact body bytes (RFC 4231 test case 2)', () => {
    expect(signBody('Jefe', 'what do ya want for nothing?')).toBe('sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('signs UTF-8 bytes, and any change of the body changes it', () => {
    const body = JSON.stringify({ id: 'x', data: { room: '12' }, note: 'é中' });
    const expected = createHmac('sha256', 'secret-0123456789').update(Buffer.from(body, 'utf8')).digest('hex');
    expect(signBody('secret-0123456789', body)).toBe(`sha256=${expected}`);
    expect(signBody('secret-0123456789', Buffer.from(body))).toBe(`sha256=${expected}`);
    expect(signBody('secret-0123456789', body.replace('12', '13'))).not.toBe(`sha256=${expected}`);
    expect(signBody('another-secret-0123', body)).not.toBe(`sha256=${expected}`);
  });
});

describe('backoff', () => {
  it('doubles from the base, is capped, and jitters within the upper half', () => {
    expect(backoffDelay(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffDelay(1, 1000, 60_000, () => 0.999999)).toBe(999);
    expect(backoffDelay(2, 1000, 60_000, () => 0)).toBe(1000);
    expect(backoffDelay(4, 1000, 60_000, () => 0)).toBe(4000);
    expect(backoffDelay(7, 1000, 60_000, () => 0)).toBe(30_000);
    expect(backoffDelay(8, 1000, 60_000, () => 0)).toBe(30_000);
    expect(backoffDelay(30, 1000, 60_000, () => 0.999999)).toBe(59_999);
  });
});

describe('delivery queue', () => {
  it('delivers every item with at most `concurrency` sends at a time, never inside push', async () => {
    let active = 0;
    let maxActive = 0;
    const seen: number[] = [];
    const q = new DeliveryQueue<number>({
      capacity: 100,
      maxAttempts: 3,
      concurrency: 3,
      send: async (n) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 5));
        seen.push(n);
        active--;
        return 'delivered';
      },
    });
    for (let i = 0; i < 20; i++) expect(q.push(i)).toBe(true);
    expect(active).toBe(0);
    await until(() => q.counters.delivered === 20);
    expect(maxActive).toBe(3);
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(q.length).toBe(0);
    expect(q.counters).toMatchObject({ accepted: 20, failedAttempts: 0, dropped: { queue_full: 0, attempts: 0, rejected: 0, shutdown: 0 } });
  });

  it('retries a failing item with growing delays until it is delivered', async () => {
    const times: number[] = [];
    const q = new DeliveryQueue<string>({
      capacity: 10,
      maxAttempts: 5,
      backoffBaseMs: 40,
      random: () => 0.999,
      send: async (_item, attempt) => {
        times.push(Date.now());
        // A thrown error counts as a retry too.
        if (attempt === 2) throw new Error('ECONNRESET');
        return attempt < 4 ? 'retry' : 'delivered';
      },
    });
    q.push('a');
    await until(() => q.counters.delivered === 1);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // ~40, ~80, ~160 ms (upper end of the jitter): each at least the previous one's lower bound.
    expect(gaps[0]).toBeGreaterThanOrEqual(35);
    expect(gaps[1]).toBeGreaterThanOrEqual(75);
    expect(gaps[2]).toBeGreaterThanOrEqual(155);
    expect(q.counters.failedAttempts).toBe(3);
    expect(q.length).toBe(0);
  });

  it('gives up after maxAttempts and counts the drop; a refused item is not retried', async () => {
    const attempts = new Map<string, number>();
    const dropped: string[] = [];
    const q = new DeliveryQueue<string>({
      capacity: 10,
      maxAttempts: 3,
      backoffBaseMs: 2,
      send: async (item) => {
        attempts.set(item, (attempts.get(item) ?? 0) + 1);
        return item === 'bad' ? 'rejected' : 'retry';
      },
      onDrop: (item, reason) => dropped.push(`${item}:${reason}`),
    });
    q.push('down');
    q.push('bad');
    await until(() => dropped.length === 2);
    expect(attempts.get('down')).toBe(3);
    expect(attempts.get('bad')).toBe(1);
    expect(dropped.sort()).toEqual(['bad:rejected', 'down:attempts']);
    expect(q.counters.dropped).toMatchObject({ attempts: 1, rejected: 1 });
    expect(q.counters.failedAttempts).toBe(4);
    expect(q.length).toBe(0);
  });

  it('holds at most `capacity` items, also while they wait for retries; the rest are dropped and counted', async () => {
    const q = new DeliveryQueue<number>({ capacity: 5, maxAttempts: 100, backoffBaseMs: 10_000, send: async () => 'retry' });
    const accepted = Array.from({ length: 50 }, (_, i) => q.push(i)).filter(Boolean).length;
    expect(accepted).toBe(5);
    expect(q.length).toBe(5);
    expect(q.counters.dropped.queue_full).toBe(45);
    await until(() => q.counters.failedAttempts === 5);
    // Waiting for their retry, they still count against the bound.
    expect(q.push(99)).toBe(false);
    expect(q.counters.dropped.queue_full).toBe(46);
    await q.close(0);
    expect(q.counters.dropped.shutdown).toBe(5);
    expect(q.length).toBe(0);
  });

  it('close waits for queued items up to the grace time, then aborts what hangs', async () => {
    let aborted = 0;
    const q = new DeliveryQueue<string>({
      capacity: 10,
      maxAttempts: 3,
      send: (item, _attempt, signal) =>
        new Promise<SendOutcome>((resolve) => {
          if (item === 'quick') return void setTimeout(() => resolve('delivered'), 20);
          signal.addEventListener('abort', () => {
            aborted++;
            resolve('retry');
          });
        }),
    });
    q.push('quick');
    q.push('hang');
    const t0 = Date.now();
    await q.close(300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    await until(() => q.counters.dropped.shutdown === 1);
    expect(aborted).toBe(1);
    expect(q.counters.delivered).toBe(1);
    expect(q.push('late')).toBe(false);
  });
});

describe('webhook sender', () => {
  it('a flood of room.refused cannot fill the queue: beyond the burst they are dropped and counted', async () => {
    // Port 9 on loopback: nothing listens (connection refused); nothing is delivered here anyway.
    const w = new Webhooks({ url: 'http://127.0.0.1:9/hooks', secret: 'secret-0123456789ab', nodeId: 'n1', queueSize: 1000, maxAttempts: 1, timeoutMs: 1000, logger: log4js.getLogger('webhooks') });
    try {
      let accepted = 0;
      for (let i = 0; i < 500; i++) if (w.emit('room.refused', { socketId: `s${i}`, code: 'invalid-room' })) accepted++;
      expect(accepted).toBeGreaterThanOrEqual(REFUSED_BURST);
      expect(accepted).toBeLessThan(REFUSED_BURST + 10);
      expect(w.refusedFlood).toBe(500 - accepted);
      // Other events still get in.
      expect(w.emit('call.end', { room: '1', callId: 'x', startedAt: new Date().toISOString(), durationMs: 1, reason: 'leave', socketId: 's' })).toBe(true);
      expect(w.emitted.get('room.refused')).toBe(500);
    } finally {
      await w.close(0);
    }
  });
});
