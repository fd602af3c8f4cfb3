/**
 * The trickle-ICE page in headless Firefox ESR (puppeteer-core over WebDriver BiDi) against the
 * real server and its embedded relay. Run `npm run build` first.
 *
 * Firefox facts (153 ESR, measured): its ICE candidates carry neither `url` nor `relayProtocol`,
 * and a relay candidate's priority says udp (type preference 5) or "tcp or tls" (0) only, so the
 * page takes the relay protocol from `getStats()` (`local-candidate.relayProtocol`). Firefox does
 * not trust the self-signed certificate of the relay's TLS port (WebDriver's acceptInsecureCerts
 * covers pages only), so `turns:` gives no candidate and no error. A 401 is reported through
 * `icecandidateerror`, for a `?transport=udp` URL under the URL without its query.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { haveFirefox } from '../helpers/firefox.js';
import { launchPeerPage, settleAll, textOf, type PeerPage } from '../helpers/peerPage.js';
import { ICE_AUTH, TEST_ICE_TOKEN, httpsGet, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer | undefined;
let firefox: PeerPage;

interface Gathered {
  status: string;
  /** Relay rows: [address, port, relay protocol column, server URL column]. */
  relays: string[][];
  errors: { url: string; code: string }[];
  verdicts: { url: string; status: string; text: string }[];
}

/** Load the page and wait until it has this deployment's servers from /api/ice-servers. */
async function load(): Promise<void> {
  // From another document: a goto that differs only in the fragment would not load the page again.
  await firefox.goto('about:blank');
  await firefox.goto(`${server!.url}/trickle-ice.html#token=${TEST_ICE_TOKEN}`);
  await firefox.waitForFunction(() => document.querySelector('#defaultsStatus[data-state=loaded]'), null, 10_000);
}

/**
 * Open the page with this deployment's servers only: clear localStorage once the page has loaded
 * (it saves its list after /api/ice-servers answers), then load it again.
 */
async function openPage(): Promise<void> {
  await load();
  await firefox.evaluate(() => localStorage.clear(), null);
  await load();
  const origins = await firefox.evaluate(() => [...(document.getElementById('servers') as HTMLSelectElement).options].map((o) => o.dataset.origin), null);
  expect(origins.length).toBeGreaterThan(0);
  expect(origins.every((o) => o === 'deployment'), JSON.stringify(origins)).toBe(true);
}

/** Click "Gather candidates" and read the tables once the page says it finished. */
async function gather(): Promise<Gathered> {
  await firefox.click('#gather');
  await firefox.waitForFunction(() => document.querySelector('#gatherStatus[data-state=done]'), null, 30_000);
  return firefox.evaluate(() => {
    const rows = (sel: string) => [...document.querySelectorAll(`${sel} tbody tr`)] as HTMLTableRowElement[];
    const cells = (tr: HTMLTableRowElement) => [...tr.cells].map((c) => c.textContent ?? '');
    return {
      status: document.getElementById('gatherStatus')?.textContent ?? '',
      // Columns of #candidates: 6 address, 7 port, 15 relay protocol, 16 server URL.
      relays: rows('#candidates')
        .filter((tr) => tr.dataset.type === 'relay')
        .map((tr) => [6, 7, 15, 16].map((i) => cells(tr)[i] ?? '')),
      errors: rows('#errors').map((tr) => ({ url: cells(tr)[2] ?? '', code: cells(tr)[3] ?? '' })),
      verdicts: rows('#verdicts').map((tr) => ({ url: tr.dataset.url ?? '', status: tr.dataset.status ?? '', text: cells(tr)[3] ?? '' })),
    };
  }, null);
}

describe.skipIf(!haveFirefox)('trickle-ICE page in Firefox', () => {
  let turnUdp: string;
  let turnTcp: string;
  let turns: string;

  beforeAll(async () => {
    await settleAll([startServer({ timeoutMs: 60_000 }).then((s) => (server = s)), launchPeerPage('firefox').then((p) => (firefox = p))]);
    turnUdp = `turn:127.0.0.1:${server!.turnPort}?transport=udp`;
    turnTcp = `turn:127.0.0.1:${server!.turnPort}?transport=tcp`;
    turns = `turns:127.0.0.1:${server!.turnTlsPort}?transport=tcp`;
  });
  beforeEach(openPage);
  afterAll(async () => {
    await firefox?.close();
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
  });

  it('gathers relay candidates over udp and tcp and tells them apart (relay protocol from the stats)', async () => {
    const r = await gather();
    const msg = JSON.stringify(r, null, 1);
    expect(r.status, msg).toMatch(/Gathering finished after \d+ ms/);
    // One relay candidate per transport Firefox could use, each labelled by the browser's stats,
    // not guessed from the priority.
    expect(r.relays.map((x) => x[2]).sort(), msg).toEqual(['tcp', 'udp']);
    for (const [address, port] of r.relays) {
      expect(address).toBe('127.0.0.1');
      expect(Number(port)).toBeGreaterThanOrEqual(Number(server!.env.TURN_MIN_PORT));
      expect(Number(port)).toBeLessThanOrEqual(Number(server!.env.TURN_MAX_PORT));
    }
    const byUrl = new Map(r.verdicts.map((v) => [v.url, v]));
    expect(byUrl.get(turnUdp), msg).toMatchObject({ status: 'ok', text: expect.stringMatching(/^TURN OK over udp \(relay seen: 127\.0\.0\.1:\d+\)$/) });
    expect(byUrl.get(turnTcp), msg).toMatchObject({ status: 'ok', text: expect.stringMatching(/^TURN OK over tcp \(relay seen: 127\.0\.0\.1:\d+\)$/) });
    // The self-signed relay certificate is not trusted: no relay over TLS, and the verdict says why it may be.
    expect(byUrl.get(turns), msg).toMatchObject({ status: 'fail', text: expect.stringMatching(/^not reachable .*certificate the browser does not trust/) });
    expect(r.verdicts.filter((v) => v.status === 'pending'), msg).toEqual([]);
  });

  it('reports a wrong password as authentication failed (401)', async () => {
    const { iceServers } = JSON.parse((await httpsGet(`${server!.url}/api/ice-servers`, ICE_AUTH)).body) as { iceServers: { urls: string[]; username?: string; credential?: string }[] };
    const turn = iceServers.find((s) => s.urls.includes(turnUdp))!;
    // Replace the list by one entry with a wrong password, through the form.
    while (await firefox.evaluate(() => (document.getElementById('servers') as HTMLSelectElement).options.length > 0, null)) {
      await firefox.evaluate(() => void ((document.getElementById('servers') as HTMLSelectElement).selectedIndex = 0), null);
      await firefox.click('#remove');
    }
    await firefox.fill('#url', turnUdp);
    await firefox.fill('#username', turn.username!);
    await firefox.fill('#password', `${turn.credential}x`);
    await firefox.click('#add');
    const r = await gather();
    const msg = JSON.stringify(r, null, 1);
    expect(r.relays, msg).toEqual([]);
    expect(r.errors.some((e) => e.code === '401'), msg).toBe(true);
    expect(r.verdicts, msg).toEqual([{ url: turnUdp, status: 'fail', text: expect.stringMatching(/^authentication failed \(401\)/) }]);
  });

  it('"Test relay" delivers data-channel messages relay ↔ relay through our relay', async () => {
    await firefox.click('#testRelay');
    await firefox.waitForFunction(() => document.querySelector('#relayResult[data-status=ok], #relayResult[data-status=fail]'), null, 40_000);
    const text = await firefox.evaluate(() => (document.getElementById('relayResult') as HTMLElement).innerText, null);
    expect(await firefox.evaluate(() => document.getElementById('relayResult')?.dataset.status, null), text).toBe('ok');
    expect(await textOf(firefox, '#relayStatus')).toMatch(/^OK: (\d+)\/\1 messages .* delivered through the relay \(udp\)/);
    expect(text).toMatch(/Selected pair, local \(A\)\s+relay 127\.0\.0\.1:\d+/);
    expect(text).toMatch(/Selected pair, remote \(B\)\s+relay 127\.0\.0\.1:\d+/);
    expect(firefox.logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
  });
});
