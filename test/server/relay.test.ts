/**
 * Relay supervision (server/relaySupervisor.ts) with a stand-in child speaking the relay IPC:
 * ready, typed requests matched by id (also out of order, late and timed out), log records written
 * at their level, restart after a crash, stop (and escalation when the child ignores stop), a
 * missing module. Every child started here is stopped.
 */
import path from 'node:path';
import type { Logger } from 'log4js';
import { afterEach, describe, expect, it } from 'vitest';
import { RelaySupervisor, relayPort } from '../../server/relaySupervisor.js';
import { alive } from '../signaling/harness.js';

const fakeRelay = path.resolve('test/server/fixtures/fake-relay.mjs');
const started: RelaySupervisor[] = [];

function recordingLogger() {
  const lines: Array<{ level: string; msg: string }> = [];
  const rec = (level: string) => (msg: string) => lines.push({ level, msg });
  const logger = { trace: rec('trace'), debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), fatal: rec('fatal') };
  return { lines, logger: logger as unknown as Logger };
}

function supervisor(env: Record<string, string> = {}, modulePath = fakeRelay, extra: { stopTimeoutMs?: number } = {}) {
  const { lines, logger } = recordingLogger();
  const s = new RelaySupervisor({ modulePath, env: { ...process.env, TURN_PORT: '40000', ...env }, logger, restartMinMs: 100, ...extra });
  started.push(s);
  return { s, lines };
}


const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

describe('RelaySupervisor', () => {
  it('starts the child, becomes ready with its ports, answers stats, stops it (exit, no restart)', async () => {
    const { s, lines } = supervisor();
    expect(s.isReady()).toBe(false);
    s.start();
    expect(await s.waitReady(5000)).toBe(true);
    const st = s.status();
    expect(st.state).toBe('ready');
    expect(st.ready).toMatchObject({ type: 'ready', tcpPort: 40000, tlsPort: 5349 });
    const pid = st.pid!;
    expect(alive(pid)).toBe(true);
    expect((await s.request('stats', {})).stats).toMatchObject({ pid, allocations: { current: 2 } });
    await s.stop();
    expect(s.status().state).toBe('stopped');
    await waitFor(() => !alive(pid));
    // Log records are written at their own level (category shown when not `turn`); printed lines: stdout info, stderr warn.
    await waitFor(() => lines.some((l) => l.msg.includes('fake relay pid')));
    expect(lines.find((l) => l.msg.includes('fake relay log record'))).toEqual({ level: 'warn', msg: '[relay] fake relay log record' });
    expect(lines.find((l) => l.msg.includes('fake relay debug record'))).toEqual({ level: 'debug', msg: '[relay:turn.alloc] fake relay debug record' });
    expect(lines.find((l) => l.msg.includes('fake relay pid'))?.level).toBe('info');
    expect(lines.find((l) => l.msg.includes('fake relay stderr line'))?.level).toBe('warn');
    await new Promise((r) => setTimeout(r, 300));
    expect(s.status().pid).toBeUndefined();
  });

  it('requests (allocations, end-allocation, revoke-user): typed replies, refused when not running, failures reported', async () => {
    const { s } = supervisor();
    await expect(s.request('allocations', {})).rejects.toMatchObject({ kind: 'unavailable' });
    s.start();
    await s.waitReady(5000);
    expect((await s.request('allocations', {})).allocations.map((a) => a.id)).toEqual(['a1', 'a2']);
    const [x, y] = await Promise.all([s.request('end-allocation', { allocationId: 'a1' }), s.request('end-allocation', { allocationId: 'zz' })]);
    expect([x.ended, y.ended]).toEqual([true, false]);
    expect((await s.request('end-allocation', { allocationId: 'a1' })).ended).toBe(false);
    expect(await s.request('revoke-user', { name: 'alice' })).toMatchObject({ type: 'revoke-user', removed: true, endedAllocations: 0 });
    await expect(s.request('revoke-user', { name: 'locked' })).rejects.toMatchObject({ kind: 'failed', message: expect.stringMatching(/locked/) });
  });

  it('matches replies by id: a slow reply does not answer a later request', async () => {
    const { s } = supervisor({ FAKE_RELAY_SLOW_ALLOCATIONS_MS: '300' });
    s.start();
    await s.waitReady(5000);
    const slow = s.request('allocations', {});
    const fast = await s.request('stats', {});
    expect(fast.type).toBe('stats');
    expect((await slow).allocations).toHaveLength(2);
    // A reply that arrives after its request timed out is dropped; the next request gets its own.
    await expect(s.request('allocations', {}, 100)).rejects.toMatchObject({ kind: 'timeout' });
    expect((await s.request('allocations', {})).type).toBe('allocations');
  });

  it('times out admin requests the child does not answer', async () => {
    const { s } = supervisor({ FAKE_RELAY_IGNORE_ADMIN: '1' });
    s.start();
    await s.waitReady(5000);
    const t0 = Date.now();
    await expect(s.request('allocations', {}, 200)).rejects.toMatchObject({ kind: 'timeout' });
    await expect(s.request('end-allocation', { allocationId: 'a1' }, 200)).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect((await s.request('stats', {})).stats).toMatchObject({ allocations: { current: 2 } });
  });

  it('a ready message without tcpPort takes the port from the UDP address', async () => {
    const { s } = supervisor({ FAKE_RELAY_NO_TCP: '1' });
    s.start();
    await s.waitReady(5000);
    expect(relayPort(s.status().ready!)).toBe(40000);
  });

  it('is not ready until the child says so', async () => {
    const { s } = supervisor({ FAKE_RELAY_DELAY_MS: '400' });
    s.start();
    await new Promise((r) => setTimeout(r, 150));
    expect(s.isReady()).toBe(false);
    await expect(s.request('stats', {})).rejects.toMatchObject({ kind: 'unavailable' });
    expect(await s.waitReady(5000)).toBe(true);
  });

  it('stops a child that is not ready yet at once (SIGTERM), without waiting for the stop timeout', async () => {
    const { s } = supervisor({ FAKE_RELAY_DELAY_MS: '30000' });
    s.start();
    await new Promise((r) => setTimeout(r, 300));
    const pid = s.status().pid!;
    const t0 = Date.now();
    await s.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    await waitFor(() => !alive(pid));
  });

  it('restarts a crashed child; a request in flight fails as unavailable', async () => {
    const { s, lines } = supervisor({ FAKE_RELAY_SLOW_ALLOCATIONS_MS: '3000' });
    s.start();
    await s.waitReady(5000);
    const pid1 = s.status().pid!;
    const pending = s.request('allocations', {}, 5000);
    process.kill(pid1, 'SIGKILL');
    await expect(pending).rejects.toMatchObject({ kind: 'unavailable' });
    await waitFor(() => s.status().restarts === 1 && s.isReady());
    const pid2 = s.status().pid!;
    expect(pid2).not.toBe(pid1);
    expect(lines.some((l) => l.level === 'error' && /exited unexpectedly \(code=null signal=SIGKILL/.test(l.msg))).toBe(true);
  });

  it('escalates to SIGTERM when the child ignores stop', async () => {
    const { s, lines } = supervisor({ FAKE_RELAY_IGNORE_STOP: '1' }, fakeRelay, { stopTimeoutMs: 300 });
    s.start();
    await s.waitReady(5000);
    const pid = s.status().pid!;
    const t0 = Date.now();
    await s.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(lines.some((l) => /SIGTERM/.test(l.msg))).toBe(true);
    await waitFor(() => !alive(pid));
  });

  it('a missing relay module is retried with backoff and never crashes the parent', async () => {
    const { s, lines } = supervisor({}, path.resolve('does/not/exist.js'));
    s.start();
    await waitFor(() => s.status().restarts >= 2, 5000);
    expect(s.isReady()).toBe(false);
    const delays = lines.filter((l) => /restarting relay in (\d+) ms/.test(l.msg)).map((l) => Number(/in (\d+) ms/.exec(l.msg)![1]));
    expect(delays.slice(0, 2)).toEqual([100, 200]);
    await s.stop();
    const n = s.status().restarts;
    await new Promise((r) => setTimeout(r, 600));
    expect(s.status().restarts).toBe(n);
  });
});
