/**
 * End to end: two headless Chromium peers open the real call page with `?relay=1` and
 * talk through the embedded relay that `npm start` runs. The allocation lifetime is shortened to
 * 10 s (Chromium refreshes at half the lifetime when it is under 2 minutes), and the call runs for
 * 25 s: frames must keep being decoded in every 5 s window, so every Refresh along the way kept the
 * allocations alive. The TURN credentials live only 4 s (`TURN_CREDENTIAL_TTL=4`): the pages get
 * them with `joined`, renew them over signaling, and the relay keeps refreshing the allocations
 * made with credentials long expired — more than six credential lifetimes of decoded frames.
 * `TURN_ALLOWED_PEERS` is empty: the browsers' relay↔relay pair passes by the
 * relay's own-address rule alone, as in production. The relay runs on the native data path
 * (TURN_DATA_PATH=native; the JavaScript one, loudly, only where the addon is not built), and the
 * admin API must report that path. Run `npm run build` first.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AllocationInfo, TurnStats } from '../../turn/index.js';
import { nativeSkipReason } from '../turn/helpers.js';
import { expectMediaFlowing, haveChromium, mediaStats, type Peer } from '../helpers/browser.js';
import { httpsGet, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { connectedPair } from './call-helpers.js';

const LIFETIME_S = 10;
const CREDENTIAL_TTL_S = 4;
const CALL_MS = 25_000;
const WINDOW_MS = 5_000;
const ADMIN_TOKEN = 'call-relay-test-admin-token';
const DATA_PATH = nativeSkipReason === undefined ? 'native' : 'js';
if (nativeSkipReason !== undefined) console.warn(`\n*** call-relay: NATIVE DATA PATH NOT TESTED (${nativeSkipReason}); the call runs on the JavaScript path ***\n`);

let server: RunningServer | undefined;
const peers: Peer[] = [];

async function allocations(): Promise<AllocationInfo[]> {
  const res = await httpsGet(`${server!.url}/api/admin/relay/allocations`, { authorization: `Bearer ${ADMIN_TOKEN}` });
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { allocations: AllocationInfo[] }).allocations;
}

async function relayStats(): Promise<TurnStats> {
  const res = await httpsGet(`${server!.url}/api/admin/relay`, { authorization: `Bearer ${ADMIN_TOKEN}` });
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { stats: TurnStats }).stats;
}

describe.skipIf(!haveChromium)(`call page through the embedded relay, ${DATA_PATH} data path`, () => {
  beforeAll(async () => {
    server = await startServer({
      env: { TURN_DEFAULT_LIFETIME: String(LIFETIME_S), TURN_CREDENTIAL_TTL: String(CREDENTIAL_TTL_S), TURN_ALLOWED_PEERS: '', ADMIN_TOKEN, TURN_DATA_PATH: DATA_PATH },
    });
  });
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it(`?relay=1: relay/relay pair, frames decoded for ${CALL_MS / 1000} s across refreshes of a ${LIFETIME_S} s allocation`, async () => {
    const { a, b } = await connectedPair(peers, server!.url, 'relay=1');
    await Promise.all([expectMediaFlowing(a), expectMediaFlowing(b)]);
    for (const p of [a, b]) {
      const s = await mediaStats(p.page);
      expect(s.localCandidateType).toBe('relay');
      expect(s.remoteCandidateType).toBe('relay');
    }
    const started = Date.now();
    const first = await allocations();
    expect(first.length).toBeGreaterThanOrEqual(2);

    let last = await Promise.all([mediaStats(a.page), mediaStats(b.page)]);
    while (Date.now() - started < CALL_MS) {
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const now = await Promise.all([mediaStats(a.page), mediaStats(b.page)]);
      const t = ((Date.now() - started) / 1000).toFixed(0);
      expect(now[0].videoFramesDecoded, `A decodes frames at ${t} s`).toBeGreaterThan(last[0].videoFramesDecoded);
      expect(now[1].videoFramesDecoded, `B decodes frames at ${t} s`).toBeGreaterThan(last[1].videoFramesDecoded);
      expect(now[0].localCandidateType).toBe('relay');
      last = now;
    }

    // The allocations carrying the call (one per browser; Chromium also allocates over the other
    // TURN URLs, and those stay idle) outlived two lifetimes: they were refreshed, not replaced.
    const known = new Set(first.map((x) => x.id));
    const carrying = (await allocations()).filter(
      (x) => known.has(x.id) && Date.now() - Date.parse(x.createdAt) >= 2 * LIFETIME_S * 1000 && x.counters.packetsToPeer > 100,
    );
    expect(carrying.length).toBeGreaterThanOrEqual(2);
    // Made with credentials of a seat (`<expiry>:<room>-<id>`) that expired long ago: the relay
    // accepted their Refreshes past the expiry (a new Allocate with them would get 401).
    for (const x of carrying) {
      expect(x.username).toMatch(/^\d+:\d+-[A-Za-z0-9_-]{16}$/);
      expect(Number(x.username.split(':')[0]) * 1000).toBeLessThan(Date.now() - 3 * CREDENTIAL_TTL_S * 1000);
    }
    // The pages renewed their credentials over signaling while the call lasted (at 40 % of 4 s).
    const metrics = (await httpsGet(`${server!.url}/metrics`)).body;
    const renewals = Number(/^webrtc_ice_credentials_issued_total\{via="renewal"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    expect(renewals, metrics.split('\n').filter((l) => l.startsWith('webrtc_turn_credentials')).join('\n')).toBeGreaterThanOrEqual(10);

    // The media went through the data path the relay reports, which counted it.
    const stats = await relayStats();
    expect(stats.dataPath.kind).toBe(DATA_PATH);
    if (DATA_PATH === 'native') expect(stats.dataPath.threads).toBeGreaterThanOrEqual(1);
    expect(stats.relayed.clientToPeer.packets).toBeGreaterThan(1000);
    expect(stats.relayed.peerToClient.packets).toBeGreaterThan(1000);
    expect(stats.internalErrors).toBe(0);
  });
});
