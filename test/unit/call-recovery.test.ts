/**
 * Outage recovery of the call page (client/src/recovery.ts) on fake timers: ICE restarts with
 * backoff, the rebuild after them, the polite side's watchdog, the never-connected failure, the
 * give-up deadline and the per-outage budget. The peer connection and the call are fakes that
 * record what recovery asks for and when (ms since the test began).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CONNECT_TIMEOUT_MS,
  DISCONNECTED_GRACE_MS,
  ICE_RESTART_DELAYS_MS,
  ICE_RESTART_TIMEOUT_MS,
  MAX_REBUILDS,
  NEVER_CONNECTED_RETRY_DELAY_MS,
  NEVER_CONNECTED_RETRY_MS,
  OUTAGE_GIVE_UP_MS,
  POLITE_WATCHDOG_MS,
  REBUILD_TIMEOUT_MS,
  OutageRecovery,
  type RecoveryPeer,
  type RecoveryStatus,
} from '../../client/src/recovery.js';

/**
 * A 0 ms timer set while another timer runs fires 1 ms later on fake timers (@sinonjs/fake-timers
 * does so to avoid endless loops; Node also runs 0 ms timers after 1 ms). The first ICE restart
 * after the grace period has a 0 ms delay, so it comes {@link SOON} ms after the grace timer.
 */
const SOON = 1;

class FakePeer implements RecoveryPeer {
  closed = false;
  connectionState: RTCPeerConnectionState = 'new';
  /** Times (ms) of restartIce() calls. */
  readonly restarts: number[] = [];
  constructor(
    readonly polite: boolean,
    readonly number: number,
  ) {}
  restartIce(): void {
    this.restarts.push(Date.now());
  }
}

/** A call with one peer connection at a time, as call.ts drives recovery. */
function fakeCall(opts: { polite: boolean }) {
  const peers: FakePeer[] = [];
  /** Times (ms) of rebuilds (createPeer calls from recovery). */
  const rebuildsAt: number[] = [];
  const statuses: (RecoveryStatus & { at: number })[] = [];
  const log: string[] = [];
  let current: FakePeer | null = null;
  let otherPresent = true;
  let freshCalls = 0;

  const newPeer = (): FakePeer => {
    if (current) current.closed = true;
    recovery.peerClosed();
    current = new FakePeer(opts.polite, peers.length + 1);
    peers.push(current);
    recovery.peerCreated();
    return current;
  };
  const recovery: OutageRecovery = new OutageRecovery({
    currentPeer: () => current,
    createPeer: () => {
      rebuildsAt.push(Date.now());
      return newPeer();
    },
    freshIceServers: () => {
      freshCalls++;
      return Promise.resolve();
    },
    otherPresent: () => otherPresent,
    status: (s) => statuses.push({ ...s, at: Date.now() }),
    log: (msg) => log.push(`${Date.now()} ${msg}`),
  });

  return {
    recovery,
    peers,
    rebuildsAt,
    statuses,
    log,
    get peer(): FakePeer {
      return current!;
    },
    get freshCalls() {
      return freshCalls;
    },
    setOtherPresent(v: boolean) {
      otherPresent = v;
    },
    /** A new connection made by the call (first one, or answering the other side's new connection). */
    newPeer,
    /** The current connection goes to `state` (as `connectionstatechange` reports it). */
    state(state: RTCPeerConnectionState, peer: FakePeer = current!) {
      peer.connectionState = state;
      recovery.connectionStateChanged(peer, state);
    },
    /** Every restartIce() over all connections, in order. */
    allRestarts(): number[] {
      return peers.flatMap((p) => p.restarts).sort((a, b) => a - b);
    },
    last(): RecoveryStatus & { at: number } {
      return statuses.at(-1)!;
    },
  };
}

/** A call whose first connection came up at t=0 and broke (`disconnected`) at t=`brokeAt`. */
async function connectedThenDisconnected(polite: boolean, brokeAt = 1000) {
  const c = fakeCall({ polite });
  c.newPeer();
  c.state('connecting');
  c.state('connected');
  await vi.advanceTimersByTimeAsync(brokeAt);
  c.state('disconnected');
  return c;
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('impolite side, a call that had connected', () => {
  it(`restarts ICE ${DISCONNECTED_GRACE_MS} ms after "disconnected", not before`, async () => {
    const c = await connectedThenDisconnected(false, 1000);
    expect(c.last()).toMatchObject({ kind: 'reconnecting', at: 1000 });
    expect(c.recovery.state()).toMatchObject({ inOutage: true, neverConnected: false, restarts: 0 });
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS);
    expect(c.peer.restarts).toEqual([]);
    await vi.advanceTimersByTimeAsync(SOON);
    expect(c.peer.restarts).toEqual([1000 + DISCONNECTED_GRACE_MS + SOON]);
    expect(c.last()).toEqual({ kind: 'reconnecting', attempt: 1, at: 1000 + DISCONNECTED_GRACE_MS + SOON });
    expect(c.freshCalls).toBe(1);
  });

  it('does not restart when the connection comes back within the grace period', async () => {
    const c = await connectedThenDisconnected(false, 1000);
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS - 500);
    c.state('connected');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(c.peer.restarts).toEqual([]);
    expect(c.rebuildsAt).toEqual([]);
    expect(c.recovery.state()).toMatchObject({ inOutage: false, connectedOnce: true });
    expect(c.last()).toMatchObject({ kind: 'connected' });
  });

  it('restarts at once on "failed"', async () => {
    const c = await connectedThenDisconnected(false, 1000);
    await vi.advanceTimersByTimeAsync(200);
    c.state('failed');
    await vi.advanceTimersByTimeAsync(0);
    expect(c.peer.restarts).toEqual([1200]);
    // The grace timer of "disconnected" was cancelled: no second restart at 2500.
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS);
    expect(c.peer.restarts).toEqual([1200]);
  });

  it('backs off between ICE restarts, then rebuilds the connection, then gives up when the rebuild fails too', async () => {
    const c = await connectedThenDisconnected(false, 0);
    const first = DISCONNECTED_GRACE_MS + SOON;
    // Each restart waits ICE_RESTART_TIMEOUT_MS for "connected", then the next one after its delay.
    const expected: number[] = [];
    let t = first;
    for (let i = 0; i < ICE_RESTART_DELAYS_MS.length; i++) {
      t += i === 0 ? ICE_RESTART_DELAYS_MS[0]! : ICE_RESTART_TIMEOUT_MS + ICE_RESTART_DELAYS_MS[i]!;
      expected.push(t);
    }
    expect(expected).toEqual([1501, 9501, 19_501]);
    const rebuildAt = t + ICE_RESTART_TIMEOUT_MS; // 25 501
    await vi.advanceTimersByTimeAsync(rebuildAt - 1);
    expect(c.peers[0]!.restarts).toEqual(expected);
    expect(c.rebuildsAt).toEqual([]);
    expect(c.statuses.flatMap((s) => (s.kind === 'reconnecting' && s.attempt ? [[s.attempt, s.at]] : []))).toEqual([
      [1, 1501],
      [2, 9501],
      [3, 19_501],
    ]);

    await vi.advanceTimersByTimeAsync(1);
    expect(c.rebuildsAt).toEqual([rebuildAt]);
    expect(c.peers).toHaveLength(2);
    expect(c.peers[0]!.closed).toBe(true);
    expect(c.recovery.totalRebuilds).toBe(1);
    expect(c.recovery.state()).toMatchObject({ restarts: 3, rebuilds: 1, gaveUp: false, failureShown: false });

    // The new connection does not come up within REBUILD_TIMEOUT_MS: the budget (3 restarts,
    // MAX_REBUILDS rebuilds) is used up, so recovery stops before the deadline.
    expect(MAX_REBUILDS).toBe(1);
    c.state('connecting');
    await vi.advanceTimersByTimeAsync(REBUILD_TIMEOUT_MS - 1);
    expect(c.recovery.state().gaveUp).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.recovery.state()).toMatchObject({ gaveUp: true, failureShown: true, rebuilds: 1, restarts: 3 });
    expect(c.last()).toEqual({ kind: 'failed', neverConnected: false, gaveUp: true, at: rebuildAt + REBUILD_TIMEOUT_MS });
    expect(c.peers[1]!.restarts).toEqual([]);

    // And nothing more happens.
    const statusCount = c.statuses.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(c.peers).toHaveLength(2);
    expect(c.allRestarts()).toEqual(expected);
    expect(c.statuses).toHaveLength(statusCount);
  });

  it('stops at the ICE restart that brought the connection back (no event needed: it polls)', async () => {
    const c = await connectedThenDisconnected(false, 0);
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS + SOON);
    expect(c.peer.restarts).toEqual([1501]);
    // The state never left "disconnected" as far as events go; the restart's poll sees "connected".
    c.peer.connectionState = 'connected';
    await vi.advanceTimersByTimeAsync(249);
    expect(c.recovery.state().inOutage).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.last()).toEqual({ kind: 'connected', at: 1751 });
    expect(c.recovery.state().inOutage).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(c.allRestarts()).toEqual([1501]);
  });
});

describe('polite side, a call that had connected', () => {
  it(`never restarts ICE itself, and rebuilds after ${POLITE_WATCHDOG_MS} ms without repair`, async () => {
    const c = await connectedThenDisconnected(true, 1000);
    await vi.advanceTimersByTimeAsync(POLITE_WATCHDOG_MS - 1);
    expect(c.peer.restarts).toEqual([]);
    expect(c.rebuildsAt).toEqual([]);
    c.state('failed');
    await vi.advanceTimersByTimeAsync(0);
    expect(c.peer.restarts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.rebuildsAt).toEqual([1000 + POLITE_WATCHDOG_MS]);
    expect(c.log.some((l) => l.endsWith('connection still broken: polite side rebuilds'))).toBe(true);
  });

  it('does not rebuild when the impolite side repaired the connection, or when the other person is gone', async () => {
    const repaired = await connectedThenDisconnected(true, 0);
    await vi.advanceTimersByTimeAsync(5000);
    repaired.state('connected');
    await vi.advanceTimersByTimeAsync(POLITE_WATCHDOG_MS * 2);
    expect(repaired.rebuildsAt).toEqual([]);

    const alone = await connectedThenDisconnected(true, 0);
    alone.setOtherPresent(false);
    await vi.advanceTimersByTimeAsync(POLITE_WATCHDOG_MS);
    expect(alone.rebuildsAt).toEqual([]);
  });

  it(`gives up ${OUTAGE_GIVE_UP_MS} ms after the outage began, when the rebuilt connection is still down`, async () => {
    const c = await connectedThenDisconnected(true, 1000);
    await vi.advanceTimersByTimeAsync(POLITE_WATCHDOG_MS);
    expect(c.rebuildsAt).toEqual([31_000]);
    c.state('connecting');
    // REBUILD_TIMEOUT_MS would end at 43 000; the deadline (41 000) comes first.
    expect(1000 + POLITE_WATCHDOG_MS + REBUILD_TIMEOUT_MS).toBeGreaterThan(1000 + OUTAGE_GIVE_UP_MS);
    await vi.advanceTimersByTimeAsync(OUTAGE_GIVE_UP_MS - POLITE_WATCHDOG_MS - 1);
    expect(c.recovery.state().gaveUp).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.recovery.state()).toMatchObject({ gaveUp: true, failureShown: true, outageMs: OUTAGE_GIVE_UP_MS });
    expect(c.last()).toEqual({ kind: 'failed', neverConnected: false, gaveUp: true, at: 1000 + OUTAGE_GIVE_UP_MS });
    expect(c.log.some((l) => l === `${1000 + OUTAGE_GIVE_UP_MS} giving up after ${OUTAGE_GIVE_UP_MS} ms (0 ICE restarts, 1 rebuilds)`)).toBe(true);

    // The failure stays: later state changes do not start recovery again or show progress.
    c.state('failed');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(c.rebuildsAt).toEqual([31_000]);
    expect(c.last()).toMatchObject({ kind: 'failed', gaveUp: true });
    // Until a connection comes up (e.g. from the other side): then the outage is over.
    c.state('connected');
    expect(c.last()).toMatchObject({ kind: 'connected' });
    expect(c.recovery.state()).toMatchObject({ inOutage: false, gaveUp: false });
  });
});

describe('a call that never connected', () => {
  it('shows the failure at the first "failed" on both sides; the impolite side retries after a delay, bounded', async () => {
    const impolite = fakeCall({ polite: false });
    const polite = fakeCall({ polite: true });
    for (const c of [impolite, polite]) {
      c.newPeer();
      c.state('connecting');
    }
    await vi.advanceTimersByTimeAsync(5000);
    for (const c of [impolite, polite]) {
      c.state('failed');
      expect(c.last()).toEqual({ kind: 'failed', neverConnected: true, gaveUp: false, at: 5000 });
      expect(c.recovery.state()).toMatchObject({ inOutage: true, neverConnected: true, failureShown: true });
    }

    await vi.advanceTimersByTimeAsync(NEVER_CONNECTED_RETRY_DELAY_MS - 1);
    expect(impolite.peer.restarts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(impolite.peer.restarts).toEqual([5000 + NEVER_CONNECTED_RETRY_DELAY_MS]);

    // Retries go on in the background; the status stays the failure message.
    const giveUpAt = 5000 + NEVER_CONNECTED_RETRY_MS;
    await vi.advanceTimersByTimeAsync(giveUpAt - Date.now() - 1);
    expect(impolite.allRestarts()).toEqual([8000, 16_000, 26_000]);
    expect(impolite.rebuildsAt).toEqual([32_000]);
    for (const s of impolite.statuses.filter((x) => x.at >= 5000)) expect(s.kind).toBe('failed');
    expect(impolite.recovery.state().gaveUp).toBe(false);

    await vi.advanceTimersByTimeAsync(1);
    for (const c of [impolite, polite]) {
      expect(c.recovery.state().gaveUp).toBe(true);
      expect(c.last()).toEqual({ kind: 'failed', neverConnected: true, gaveUp: true, at: giveUpAt });
    }
    expect(polite.allRestarts()).toEqual([]);
    expect(polite.rebuildsAt).toEqual([]);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(impolite.allRestarts()).toHaveLength(3);
    expect(impolite.peers).toHaveLength(2);
  });

  it(`shows the failure ${CONNECT_TIMEOUT_MS} ms after the first connection was made when nothing failed`, async () => {
    const c = fakeCall({ polite: true });
    c.newPeer();
    c.state('connecting');
    await vi.advanceTimersByTimeAsync(CONNECT_TIMEOUT_MS - 1);
    expect(c.statuses).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.last()).toEqual({ kind: 'failed', neverConnected: true, gaveUp: false, at: CONNECT_TIMEOUT_MS });
    expect(c.log).toContain(`${CONNECT_TIMEOUT_MS} not connected ${CONNECT_TIMEOUT_MS} ms after the first peer connection`);
  });

  it('has no connect timeout once a connection was up', async () => {
    const c = fakeCall({ polite: true });
    c.newPeer();
    c.state('connected');
    c.newPeer();
    await vi.advanceTimersByTimeAsync(CONNECT_TIMEOUT_MS * 2);
    expect(c.statuses).toEqual([{ kind: 'connected', at: 0 }]);
  });
});

describe('the budget belongs to the outage', () => {
  it("is not reset by the other side's new connection, and is whole again in the next outage", async () => {
    const c = await connectedThenDisconnected(false, 0);
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS + SOON);
    expect(c.allRestarts()).toEqual([1501]);

    // 3 000: the other side rebuilt; the call answers with a new connection of its own. It fails.
    await vi.advanceTimersByTimeAsync(3000 - Date.now());
    c.newPeer();
    c.state('connecting');
    await vi.advanceTimersByTimeAsync(1000);
    c.state('failed');
    // Still the same outage: the next step is restart 2, after its backoff delay.
    expect(c.recovery.state()).toMatchObject({ inOutage: true, restarts: 2 });
    await vi.advanceTimersByTimeAsync(ICE_RESTART_DELAYS_MS[1]! - 1);
    expect(c.peers[1]!.restarts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.peers[1]!.restarts).toEqual([4000 + ICE_RESTART_DELAYS_MS[1]!]);

    // It comes up: the outage is over. The next outage starts from restart 1 with no delay.
    c.state('connected');
    expect(c.recovery.state()).toMatchObject({ inOutage: false, restarts: 0 });
    await vi.advanceTimersByTimeAsync(10_000);
    const brokeAgain = Date.now();
    c.state('disconnected');
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS + SOON);
    expect(c.peers[1]!.restarts.at(-1)).toBe(brokeAgain + DISCONNECTED_GRACE_MS + SOON);
    expect(c.recovery.state()).toMatchObject({ restarts: 1, rebuilds: 0 });
    expect(c.last()).toEqual({ kind: 'reconnecting', attempt: 1, at: brokeAgain + DISCONNECTED_GRACE_MS + SOON });
  });

  it('keeps the deadline of the outage across connections', async () => {
    const c = await connectedThenDisconnected(true, 0);
    await vi.advanceTimersByTimeAsync(10_000);
    c.newPeer(); // the other side's rebuild, answered
    c.state('connecting');
    await vi.advanceTimersByTimeAsync(OUTAGE_GIVE_UP_MS - 10_000 - 1);
    expect(c.recovery.state().gaveUp).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.recovery.state().gaveUp).toBe(true);
    expect(c.last()).toMatchObject({ kind: 'failed', gaveUp: true, at: OUTAGE_GIVE_UP_MS });
  });

  it('reset() (the other person left) forgets the outage; a new person gets a fresh budget and connect timeout', async () => {
    const c = await connectedThenDisconnected(false, 0);
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS);
    c.recovery.reset();
    expect(c.recovery.state()).toEqual({
      connectedOnce: false,
      inOutage: false,
      neverConnected: false,
      outageMs: 0,
      restarts: 0,
      rebuilds: 0,
      failureShown: false,
      gaveUp: false,
    });
    // The old outage's deadline does not fire later.
    await vi.advanceTimersByTimeAsync(OUTAGE_GIVE_UP_MS);
    expect(c.statuses.some((s) => s.kind === 'failed')).toBe(false);
  });
});
