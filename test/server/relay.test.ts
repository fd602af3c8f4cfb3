/**
 * Relay supervision (server/relay.ts) with a stand-in child speaking the relay IPC:
 * ready, stats, restart after a crash, stop (and escalation when the child ignores stop), a
 * missing module, child output re-logged. Every child started here is stopped.
 */
import path from 'node:path';
import type { Logger } from 'log4js';
import { afterEach, describe, expect, it } from 'vitest';
import { RelaySupervisor, relayPort } from '../../server/relay.js';
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
    expect(await s.requestStats()).toMatchObject({ pid, allocations: { current: 2 } });
    await s.stop();
    expect(s.status().state).toBe('stopped');
    await waitFor(() => !alive(pid));
    // Child output is re-logged on the turn category with its level.
    await waitFor(() => lines.some((l) => l.msg.includes('fake relay pid')));
    expect(lines.find((l) => l.msg.includes('fake relay pid'))?.level).toBe('info');
    expect(lines.find((l) => l.msg.includes('fake relay stderr line'))?.level).toBe('warn');
    await new Promise((r) => setTimeout(r, 300));
    expect(s.status().pid).toBeUndefined();
  });

  it('admin requests (allocations, end-allocation): answered, refused when not running', async () => {
    const { s } = supervisor();
    await expect(s.listAllocations()).rejects.toMatchObject({ kind: 'unavailable' });
    s.start();
    await s.waitReady(5000);
    expect((await s.listAllocations()).map((a) => a.id)).toEqual(['a1', 'a2']);
    const [x, y] = await Promise.all([s.endAllocation('a1'), s.endAllocation('zz')]);
    expect([x, y]).toEqual([true, false]);
    expect(await s.endAllocation('a1')).toBe(false);
  });

  it('times out admin requests the child does not answer', async () => {
    const { s } = supervisor({ FAKE_RELAY_IGNORE_ADMIN: '1' });
    s.start();
    await s.waitReady(5000);
    const t0 = Date.now();
    await expect(s.listAllocations(200)).rejects.toMatchObject({ kind: 'timeout' });
    await expect(s.endAllocation('a1', 200)).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    // Late answers after a timeout do not confuse later requests.
    expect(await s.requestStats()).toMatchObject({ allocations: { current: 2 } });
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
    expect(await s.requestStats()).toBeUndefined();
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

  it('restarts a crashed child', async () => {
    const { s, lines } = supervisor();
    s.start();
    await s.waitReady(5000);
    const pid1 = s.status().pid!;
    s.send({ type: 'crash' });
    await waitFor(() => s.status().restarts === 1 && s.isReady());
    const pid2 = s.status().pid!;
    expect(pid2).not.toBe(pid1);
    expect(lines.some((l) => l.level === 'error' && /exited unexpectedly \(code=3/.test(l.msg))).toBe(true);
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
