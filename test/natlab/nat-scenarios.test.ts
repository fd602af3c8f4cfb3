/**
 * NAT lab scenarios: two headless Chromium peers, each behind its own router namespace
 * (test/natlab/lab.ts), open the real call page served by `node dist/server/main.js` (as `npm
 * start` runs it, with the embedded relay child) running INSIDE the lab's public namespace at
 * 203.0.113.10. Each scenario proves media flows both ways (decoded frames, growing byte counters)
 * and checks the selected candidate pair; time-to-connected is printed for the closing note.
 *
 * Run `npm run build` first. Needs root, `ip netns`, iptables and Chromium; skipped loudly otherwise.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, mediaStats, waitForStats, type MediaStats, type Peer } from '../helpers/browser.js';
import type { RunningServer } from '../helpers/server.js';
import { NatLab, labUnavailableReason, warnLabSkipped, type NatType } from './lab.js';
import { CONNECT_TIMEOUT_MS, ICE_RESTART_DELAYS_MS, MAX_REBUILDS, NEVER_CONNECTED_RETRY_MS, type RecoveryState } from '../../client/src/recovery.js';
import { describePair, expectMediaFlowingSoon, serverSpkiHash, startCall, startLabServer, stopLabServer, type LabCall } from './labCall.js';

const labReason = labUnavailableReason();
const skipReason = labReason ?? (haveChromium ? null : 'Chromium not installed (/usr/bin/chromium; set CHROMIUM_PATH)');
if (skipReason) warnLabSkipped(skipReason, 'NAT lab call scenarios (test/natlab/nat-scenarios.test.ts)');

/**
 * How long scenario 5 waits for both pages to say the connection failed, ms: the page shows it at
 * the first ICE failure (Chromium: ≈ 16 s without a working pair) and at the latest
 * CONNECT_TIMEOUT_MS after its first peer connection; the rest is slack for a loaded machine.
 */
const FAILURE_MESSAGE_TIMEOUT_MS = CONNECT_TIMEOUT_MS + 15_000;

/** What scenario 5 reads from a page. */
interface PageState {
  status: string;
  recovery: RecoveryState;
  counters: Record<string, number>;
  /** RTCPeerConnections the page created (`window.__pcs`). */
  pcsCreated: number;
  framesDecoded: number;
  eventLog: string[];
}

async function pageState(peer: Peer): Promise<PageState> {
  return peer.page.evaluate(async () => {
    const w = window as unknown as {
      __pcs: RTCPeerConnection[];
      __call: { call: { recoveryState(): RecoveryState; counters(): Record<string, number>; eventLog: string[]; peer: { pc: RTCPeerConnection } | null } };
    };
    const c = w.__call.call;
    let framesDecoded = 0;
    for (const pc of w.__pcs) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s: Record<string, unknown>) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += Number(s.framesDecoded ?? 0);
      });
    }
    return {
      status: document.getElementById('status')?.textContent ?? '',
      recovery: c.recoveryState(),
      counters: c.counters(),
      pcsCreated: w.__pcs.length,
      framesDecoded,
      eventLog: c.eventLog.slice(),
    };
  });
}

/** Page-clock time (ms of the day) of the first event-log line matching `re`, or null. */
function logTime(log: string[], re: RegExp): number | null {
  for (const line of log) {
    const m = /^(\d\d):(\d\d):(\d\d)\.(\d{3}) (.*)$/.exec(line);
    if (m && re.test(m[5]!)) return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]);
  }
  return null;
}

/** Every `#status` text the page showed so far. */
function statusLog(peer: Peer): Promise<string[]> {
  return peer.page.evaluate(() => (window as unknown as { __call: { page: { statusLog: string[] } } }).__call.page.statusLog.slice());
}

/** Time to connected per scenario, printed at the end of the file. */
const timings: Array<{ scenario: string; connectedMs: number; firstFrameMs: number; pair: string }> = [];

let lab: NatLab;
const peers: Peer[] = [];

/** Prove media both ways, record timings, return both sides' stats. */
async function expectCallWorks(scenario: string, call: LabCall): Promise<{ a: MediaStats; b: MediaStats }> {
  await Promise.all([
    waitForStats(call.a, (s) => s.videoFramesDecoded > 0, 20_000, 'first frame at A'),
    waitForStats(call.b, (s) => s.videoFramesDecoded > 0, 20_000, 'first frame at B'),
  ]);
  const firstFrameMs = Date.now() - call.joinedAt;
  const [a, b] = await Promise.all([expectMediaFlowingSoon(call.a), expectMediaFlowingSoon(call.b)]);
  const pair = `A ${describePair(a)}; B ${describePair(b)}`;
  timings.push({ scenario, connectedMs: call.connectedMs, firstFrameMs, pair });
  console.log(`[natlab] ${scenario}: connected ${call.connectedMs} ms, first frames both ways ${firstFrameMs} ms after B joined; ${pair}`);
  return { a, b };
}

function setNats(natA: NatType, natB: NatType): void {
  lab.setNat('a', natA);
  lab.setNat('b', natB);
  lab.setFirewall('a', 'open');
  lab.setFirewall('b', 'open');
}

describe.skipIf(!!skipReason)(`NAT lab call scenarios${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  let server: RunningServer | undefined;
  let noRelay: RunningServer | undefined;

  beforeAll(async () => {
    lab = new NatLab();
    await lab.setup();
    server = await startLabServer(lab);
  });

  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });

  afterAll(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
    for (const s of [server, noRelay]) if (s) await stopLabServer(s).catch(() => undefined);
    lab?.teardown();
    if (timings.length) {
      console.log('[natlab] time to connected (from the second Join click):');
      for (const t of timings) {
        console.log(`[natlab]   ${t.scenario.padEnd(34)} connected ${String(t.connectedMs).padStart(6)} ms  first frames ${String(t.firstFrameMs).padStart(6)} ms  ${t.pair}`);
      }
    }
  });

  it('1. both behind port-preserving NATs: connected (server-reflexive or relayed)', async () => {
    setNats('port-preserving', 'port-preserving');
    const call = await startCall(lab, server!, peers);
    const { a, b } = await expectCallWorks('1 port-preserving both', call);
    for (const s of [a, b]) {
      expect(['srflx', 'prflx', 'relay']).toContain(s.localCandidateType);
      expect(['srflx', 'prflx', 'relay']).toContain(s.remoteCandidateType);
    }
  });

  it('2. both behind symmetric NATs: connected through the relay', async () => {
    setNats('symmetric', 'symmetric');
    const call = await startCall(lab, server!, peers);
    const { a, b } = await expectCallWorks('2 symmetric both', call);
    for (const s of [a, b]) expect([s.localCandidateType, s.remoteCandidateType]).toContain('relay');
  });

  it("3. all UDP blocked at A's router (TCP to the relay only): A relays over TURN/TCP", async () => {
    setNats('port-preserving', 'port-preserving');
    lab.setFirewall('a', 'block-udp-except-none', { httpsPort: server!.httpsPort, turnPort: server!.turnPort });
    const call = await startCall(lab, server!, peers);
    const { a } = await expectCallWorks('3 A: UDP blocked, TURN/TCP', call);
    expect(a.localCandidateType).toBe('relay');
    expect(a.relayProtocol).toBe('tcp');
  });

  it("4. only TLS to the relay at A's router: A relays over TURN/TLS", async () => {
    setNats('port-preserving', 'port-preserving');
    lab.setFirewall('a', 'tls-only', { httpsPort: server!.httpsPort, turnTlsPort: server!.turnTlsPort });
    const call = await startCall(lab, server!, peers, { argsA: [`--ignore-certificate-errors-spki-list=${serverSpkiHash(server!)}`] });
    const { a } = await expectCallWorks('4 A: TLS only, TURN/TLS', call);
    expect(a.localCandidateType).toBe('relay');
    expect(a.relayProtocol).toBe('tls');
  });

  it(
    '5. no relay (TURN_ENABLED=false) and symmetric NATs: both pages say the connection failed at the first ICE failure, keep saying it, and stop retrying',
    async () => {
      setNats('symmetric', 'symmetric');
      noRelay = await startLabServer(lab, { TURN_ENABLED: 'false', TURN_PUBLIC_HOST: undefined });
      const call = await startCall(lab, noRelay, peers, { waitConnected: false });
      const sides = [
        ['A', call.a],
        ['B', call.b],
      ] as const;
      const failure = /could not connect to the other person: no network path \(a TURN relay may be needed\)/i;
      const shownAt: Record<string, number> = {};
      const seen = new Set<string>();
      // 1. Both sides show the failure (at their first ICE failure; at the latest after CONNECT_TIMEOUT_MS).
      for (;;) {
        const [sa, sb] = await Promise.all([pageState(call.a), pageState(call.b)]);
        for (const [name, st] of [['A', sa], ['B', sb]] as const) {
          seen.add(`${name}: ${st.status}`);
          if (shownAt[name] === undefined && failure.test(st.status)) shownAt[name] = Date.now() - call.joinedAt;
          expect(st.framesDecoded, 'media flowed although no path exists: is the relay really off?').toBe(0);
        }
        if (shownAt.A !== undefined && shownAt.B !== undefined) break;
        if (Date.now() - call.joinedAt > FAILURE_MESSAGE_TIMEOUT_MS) {
          throw new Error(
            `#status never said the connection failed on both sides within ${FAILURE_MESSAGE_TIMEOUT_MS} ms; statuses seen ${JSON.stringify([...seen])}\n` +
              `A log:\n${sa.eventLog.slice(-30).join('\n')}\nB log:\n${sb.eventLog.slice(-30).join('\n')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      // The message came with the side's first ICE failure (page clock), not later, unless the
      // connect timeout showed it first.
      for (const [name, peer] of sides) {
        const log = (await pageState(peer)).eventLog;
        const failedAt = logTime(log, /^connection failed$/);
        const shown = logTime(log, /^failure shown/);
        expect(shown, `${name} never logged "failure shown":\n${log.join('\n')}`).not.toBeNull();
        if (failedAt !== null) expect(shown! - failedAt, `${name}: failure shown ${shown! - failedAt} ms after the first "connection failed"`).toBeLessThanOrEqual(50);
        else expect(log.join('\n'), `${name}: failure shown without an ICE failure or the connect timeout`).toMatch(/not connected \d+ ms after the first peer connection/);
      }
      console.log(`[natlab] 5 no relay, symmetric both: failure shown at A ${shownAt.A} ms, at B ${shownAt.B} ms after B joined`);

      // 2. Retrying goes on in the background, bounded: both sides give up within the budget, and
      //    the failure message never gives way to "Connecting…"/"Reconnecting…" meanwhile.
      const firstShown = Math.min(shownAt.A!, shownAt.B!) + call.joinedAt;
      const giveUpBy = firstShown + NEVER_CONNECTED_RETRY_MS + CONNECT_TIMEOUT_MS + 15_000;
      let states = await Promise.all([pageState(call.a), pageState(call.b)]);
      while (!states.every((st) => st.recovery.gaveUp)) {
        if (Date.now() > giveUpBy) {
          throw new Error(`retries did not stop: ${JSON.stringify(states.map((st) => ({ ...st, eventLog: st.eventLog.slice(-25) })), null, 1)}`);
        }
        for (const st of states) expect(st.status).toMatch(failure);
        await new Promise((r) => setTimeout(r, 500));
        states = await Promise.all([pageState(call.a), pageState(call.b)]);
      }
      const gaveUpMs = Date.now() - call.joinedAt;
      for (const [i, [name, peer]] of sides.entries()) {
        const st = states[i]!;
        expect(st.status, `${name} final status`).toMatch(failure);
        expect(st.status, `${name} final status`).toMatch(/leave and join again/i);
        expect(st.recovery.restarts, `${name} ICE restarts in the outage`).toBeLessThanOrEqual(ICE_RESTART_DELAYS_MS.length);
        expect(st.recovery.rebuilds, `${name} rebuilds in the outage`).toBeLessThanOrEqual(MAX_REBUILDS);
        // One connection, plus at most one rebuild by each side.
        expect(st.pcsCreated, `${name} peer connections`).toBeLessThanOrEqual(1 + 2 * MAX_REBUILDS);
        // Once the failure was up, every later status was the failure message.
        const log = await statusLog(peer);
        const first = log.findIndex((t) => failure.test(t));
        expect(first, `${name} status log ${JSON.stringify(log)}`).toBeGreaterThanOrEqual(0);
        for (const t of log.slice(first)) expect(t, `${name} status after the failure was shown; log ${JSON.stringify(log)}`).toMatch(failure);
      }
      // 3. And they really stopped: nothing new for 5 s.
      const before = states.map((st) => ({ pcs: st.pcsCreated, offers: st.counters.offersSent, restarts: st.counters.iceRestarts }));
      await new Promise((r) => setTimeout(r, 5000));
      const after = (await Promise.all([pageState(call.a), pageState(call.b)])).map((st) => ({ pcs: st.pcsCreated, offers: st.counters.offersSent, restarts: st.counters.iceRestarts }));
      expect(after, 'a page kept retrying after giving up').toEqual(before);
      console.log(`[natlab] 5 no relay: both gave up ${gaveUpMs} ms after B joined; A ${JSON.stringify(states[0]!.recovery)}; B ${JSON.stringify(states[1]!.recovery)}`);
      timings.push({ scenario: '5 no relay: failure shown', connectedMs: Math.max(shownAt.A!, shownAt.B!), firstFrameMs: -1, pair: 'none' });
      expect((await mediaStats(call.a.page)).videoFramesDecoded).toBe(0);
    },
    FAILURE_MESSAGE_TIMEOUT_MS + NEVER_CONNECTED_RETRY_MS + 60_000,
  );
});
