/**
 * Issue 4, NAT lab scenarios: two headless Chromium peers, each behind its own router namespace
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
import { describePair, expectMediaFlowingSoon, serverSpkiHash, startCall, startLabServer, statusText, stopLabServer, type LabCall } from './labCall.js';

const labReason = labUnavailableReason();
const skipReason = labReason ?? (haveChromium ? null : 'Chromium not installed (/usr/bin/chromium; set CHROMIUM_PATH)');
if (skipReason) warnLabSkipped(skipReason, 'NAT lab call scenarios (test/natlab/nat-scenarios.test.ts)');

/** How long scenario 5 waits for the page to say the connection failed, ms. */
const FAILURE_MESSAGE_TIMEOUT_MS = 60_000;

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
    '5. no relay (TURN_ENABLED=false) and symmetric NATs: the page says the connection failed',
    async () => {
      setNats('symmetric', 'symmetric');
      noRelay = await startLabServer(lab, { TURN_ENABLED: 'false' });
      const call = await startCall(lab, noRelay, peers, { waitConnected: false });
      // Poll both status lines; also note when ICE first fails (page log line, or the state), for the report.
      const failed = /fail|could not|couldn't|cannot/i;
      let iceFailedMs = -1;
      call.a.page.on('console', (m) => {
        if (iceFailedMs < 0 && /connection failed/i.test(m.text())) iceFailedMs = Date.now() - call.joinedAt;
      });
      const seen = new Set<string>();
      for (;;) {
        const [sa, sb, st] = await Promise.all([statusText(call.a), statusText(call.b), mediaStats(call.a.page)]);
        seen.add(sa).add(sb);
        if (iceFailedMs < 0 && st.connectionState === 'failed') iceFailedMs = Date.now() - call.joinedAt;
        expect(st.videoFramesDecoded, 'media flowed although no path exists: is the relay really off?').toBe(0);
        if (failed.test(sa) && failed.test(sb)) break;
        if (Date.now() - call.joinedAt > FAILURE_MESSAGE_TIMEOUT_MS) {
          throw new Error(
            `#status never said the connection failed within ${FAILURE_MESSAGE_TIMEOUT_MS} ms (ICE first failed after ${iceFailedMs} ms); ` +
              `statuses seen ${JSON.stringify([...seen])}; last A "${sa}", B "${sb}"\nA log:\n${call.a.logs.slice(-30).join('\n')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      const ms = Date.now() - call.joinedAt;
      const [sa, sb] = await Promise.all([statusText(call.a), statusText(call.b)]);
      console.log(`[natlab] 5 no relay, symmetric both: ICE failed after ${iceFailedMs} ms, failure shown ${ms} ms after B joined; A "${sa}"; B "${sb}"`);
      timings.push({ scenario: '5 no relay: failure shown', connectedMs: ms, firstFrameMs: -1, pair: 'none' });
      expect((await mediaStats(call.a.page)).videoFramesDecoded).toBe(0);
    },
    FAILURE_MESSAGE_TIMEOUT_MS + 40_000,
  );
});
