/**
 * The trickle-ICE test page, end to end: headless Chromium against the real server
 * (`node dist/server/main.js`, HTTPS, the embedded relay as its child) on loopback. Run
 * `npm run build` first.
 *
 * Loopback facts (Chromium 156, measured): host candidates come from the machine's real
 * interfaces (here 192.0.2.2 and fd00::2; mDNS is off). With the helper's
 * `--use-fake-ui-for-media-stream` Chromium treats media permission as granted, enumerates
 * adapters and binds each socket to its interface address, so a STUN/TURN server on 127.0.0.1
 * sees the host address itself and Chromium drops the srflx candidate (equal to host). (Without
 * that flag it binds to the any-address, the server sees 127.0.0.1 and a srflx appears; that is a
 * loopback artefact, not a NAT.) srflx is therefore checked behind a real NAT in
 * trickle-ice-nat.test.ts.
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { freeTcpPort, freeUdpTcpPort } from '../helpers/ports.js';
import { ICE_AUTH, TEST_ICE_TOKEN, httpsGet, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let peer: Peer;

interface Row {
  type: string;
  entry: string;
  cells: string[];
}
interface VerdictRow {
  entry: number;
  url: string;
  status: string;
  text: string;
}
interface ServerEntryForm {
  urls: string;
  username?: string;
  password?: string;
}

/** Column indexes of #candidates (see trickle-ice.html). */
const COL = { elapsed: 0, entry: 1, component: 2, type: 3, protocol: 5, address: 6, port: 7, priority: 8, relatedAddress: 12, relayProtocol: 15, url: 16 };

function page(): Page {
  return peer.page;
}

/** Open the page the documented way for a tester: the token in the URL fragment. */
async function openPage(): Promise<void> {
  // From another document: a goto that differs only in the fragment would not load the page again.
  await page().goto('about:blank');
  await page().goto(`${server.url}/trickle-ice.html#token=${TEST_ICE_TOKEN}`);
  await page().waitForSelector('#defaultsStatus[data-state=loaded]', { timeout: 10_000 });
}

async function serverOptions(): Promise<{ urls: string; origin: string; label: string }[]> {
  return page().$$eval('#servers option', (os) =>
    os.map((o) => ({ urls: (o as HTMLOptionElement).dataset.urls ?? '', origin: (o as HTMLOptionElement).dataset.origin ?? '', label: o.textContent ?? '' })),
  );
}

/** Replace the whole server list through the UI (remove every entry, then add each). */
async function setServers(entries: ServerEntryForm[]): Promise<void> {
  while ((await page().locator('#servers option').count()) > 0) {
    await page().selectOption('#servers', { index: 0 });
    await page().click('#remove');
  }
  for (const e of entries) {
    await page().fill('#url', e.urls);
    await page().fill('#username', e.username ?? '');
    await page().fill('#password', e.password ?? '');
    await page().click('#add');
    expect(await page().isHidden('#formError'), `form error for ${e.urls}: ${await page().textContent('#formError')}`).toBe(true);
  }
  expect((await serverOptions()).map((o) => o.urls)).toEqual(entries.map((e) => e.urls));
}

async function setOption(selector: string, value: string): Promise<void> {
  if (selector === '#policy') await page().selectOption(selector, value);
  else await page().fill(selector, value);
  await page().dispatchEvent(selector, 'change');
}

/** Click "Gather candidates" and wait until the page says it finished. */
async function gather(timeoutMs = 30_000): Promise<{ rows: Row[]; errors: Row[]; verdicts: VerdictRow[]; status: string }> {
  await page().click('#gather');
  let finished = true;
  await page()
    .waitForSelector('#gatherStatus[data-state=done]', { timeout: timeoutMs })
    .catch(() => (finished = false));
  const table = (sel: string) =>
    page().$$eval(`${sel} tbody tr`, (trs) =>
      trs.map((tr) => ({ type: (tr as HTMLElement).dataset.type ?? '', entry: (tr as HTMLElement).dataset.entry ?? '', cells: [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? '') })),
    );
  const verdicts = await page().$$eval('#verdicts tbody tr', (trs) =>
    trs.map((tr) => {
      const d = (tr as HTMLElement).dataset;
      return { entry: Number(d.entry), url: d.url ?? '', status: d.status ?? '', text: (tr as HTMLTableRowElement).cells[3]?.textContent ?? '' };
    }),
  );
  const result = { rows: await table('#candidates'), errors: await table('#errors'), verdicts, status: (await page().textContent('#gatherStatus')) ?? '' };
  if (!finished) {
    const pageLog = peer.logs.filter((l) => !l.startsWith('[verbose]')).slice(-30).join('\n');
    throw new Error(`gathering did not finish within ${timeoutMs} ms:\n${describeResult(result)}\npage log:\n${pageLog}\nserver output (tail):\n${server.output().slice(-4000)}`);
  }
  return result;
}

function describeResult(r: { rows: Row[]; errors: Row[]; verdicts: VerdictRow[]; status: string }): string {
  return [
    r.status,
    ...r.rows.map((x) => x.cells.join(' | ')),
    'errors:',
    ...r.errors.map((x) => x.cells.join(' | ')),
    'verdicts:',
    ...r.verdicts.map((v) => `#${v.entry + 1} ${v.url} ${v.status} ${v.text}`),
  ].join('\n');
}

/** Fresh `/api/ice-servers` answer from the server (the same endpoint the page uses). */
async function apiIceServers(): Promise<{ iceServers: { urls: string[]; username?: string; credential?: string }[]; ttl: number }> {
  const res = await httpsGet(`${server.url}/api/ice-servers`, ICE_AUTH);
  expect(res.status).toBe(200);
  return JSON.parse(res.body);
}

describe.skipIf(!haveChromium)('trickle-ICE page', () => {
  let stunUrl: string;
  let turnUdpUrl: string;
  let turnTcpUrl: string;

  beforeAll(async () => {
    server = await startServer();
    peer = await launchPeer();
    stunUrl = `stun:127.0.0.1:${server.turnPort}`;
    turnUdpUrl = `turn:127.0.0.1:${server.turnPort}?transport=udp`;
    turnTcpUrl = `turn:127.0.0.1:${server.turnPort}?transport=tcp`;
  });

  beforeEach(async () => {
    // Every test starts from an empty localStorage, i.e. this deployment's defaults. Clear it only
    // once the page has loaded its defaults: the page saves its list after /api/ice-servers answers.
    await openPage();
    await page().evaluate(() => localStorage.clear());
    await openPage();
    expect((await serverOptions()).every((o) => o.origin === 'deployment')).toBe(true);
  });

  afterAll(async () => {
    const csp = peer?.logs.filter((l) => /Content Security Policy|Refused to/i.test(l)) ?? [];
    await peer?.close();
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
    // The page must run under the server's strict CSP (no inline scripts/styles).
    expect(csp, csp.join('\n')).toEqual([]);
  });

  it("loads this deployment's servers from /api/ice-servers into #servers", async () => {
    const opts = await serverOptions();
    expect(opts.every((o) => o.origin === 'deployment')).toBe(true);
    const urls = opts.flatMap((o) => o.urls.split(' '));
    expect(urls).toContain(stunUrl);
    expect(urls).toContain(turnUdpUrl);
    // The TURN entry carries a REST username (`<expiry>:<id>`) and a password, filled into the form on selection.
    const turnIndex = opts.findIndex((o) => o.urls.split(' ').includes(turnUdpUrl));
    await page().selectOption('#servers', { index: turnIndex });
    expect(await page().inputValue('#url')).toContain(turnUdpUrl);
    expect(await page().inputValue('#username')).toMatch(/^\d{10,}:\S+$/);
    expect((await page().inputValue('#password')).length).toBeGreaterThan(10);
    // The label never shows the password.
    expect(opts[turnIndex]!.label).not.toContain(await page().inputValue('#password'));
  });

  it('takes the tester token out of the address bar; without one it says why and #iceToken + #useToken load the servers', async () => {
    expect(page().url()).not.toContain('token');
    expect(await page().inputValue('#iceToken')).toBe(TEST_ICE_TOKEN);
    // No token in the URL and none stored in this tab: the deployment's servers are refused.
    await page().evaluate(() => {
      sessionStorage.clear();
      localStorage.clear();
    });
    await page().goto(`${server.url}/trickle-ice.html`);
    await page().waitForSelector('#defaultsStatus[data-state=error]', { timeout: 10_000 });
    expect(await page().textContent('#defaultsStatus')).toMatch(/only with its token/);
    expect(await serverOptions()).toEqual([]);
    await page().fill('#iceToken', 'not-the-token-0123456789');
    await page().click('#useToken');
    await page().waitForSelector('#defaultsStatus[data-state=error]', { timeout: 10_000 });
    expect(await page().textContent('#defaultsStatus')).toMatch(/token was refused/);
    await page().fill('#iceToken', TEST_ICE_TOKEN);
    await page().click('#useToken');
    await page().waitForSelector('#defaultsStatus[data-state=loaded]', { timeout: 10_000 });
    const urls = (await serverOptions()).filter((o) => o.origin === 'deployment').flatMap((o) => o.urls.split(' '));
    expect(urls).toContain(turnUdpUrl);
    expect(await page().textContent('#defaultsStatus')).toMatch(/valid for 10 minutes/);
  });

  it('refuses malformed URLs with a clear message', async () => {
    await page().fill('#url', 'turn://127.0.0.1:3478');
    await page().click('#add');
    expect(await page().textContent('#formError')).toMatch(/remove the "\/\/"/);
    await page().fill('#url', 'turn:127.0.0.1:3478');
    await page().fill('#username', '');
    await page().fill('#password', '');
    await page().click('#add');
    expect(await page().textContent('#formError')).toMatch(/need a username and a password/);
    await page().fill('#url', 'stun:127.0.0.1:99999');
    await page().click('#add');
    expect(await page().textContent('#formError')).toMatch(/port "99999" must be a number from 1 to 65535/);
    expect((await serverOptions()).length).toBe(2);
  });

  it('gathers host and relay candidates through our relay; on loopback STUN sees the host address (no srflx)', async () => {
    const r = await gather();
    const msg = describeResult(r);
    const types = new Set(r.rows.map((x) => x.type));
    expect(types.has('host'), msg).toBe(true);
    expect(types.has('relay'), msg).toBe(true);

    // relay: a relayed transport address in the relay's configured port range, from the turn: URL.
    const udpRelay = r.rows.find((x) => x.type === 'relay' && x.cells[COL.url] === turnUdpUrl);
    expect(udpRelay, msg).toBeDefined();
    const port = Number(udpRelay!.cells[COL.port]);
    expect(port).toBeGreaterThanOrEqual(Number(server.env.TURN_MIN_PORT));
    expect(port).toBeLessThanOrEqual(Number(server.env.TURN_MAX_PORT));
    expect(udpRelay!.cells[COL.relayProtocol]).toMatch(/^udp/);
    // Priority split: 2^24·type + 2^8·local + (256 − component).
    const [prio, tp, lp, cp] = [8, 9, 10, 11].map((i) => Number(udpRelay!.cells[i]));
    expect(tp! * 2 ** 24 + lp! * 256 + cp!).toBe(prio);
    expect(256 - cp!).toBe(Number(udpRelay!.cells[COL.component]));

    // With the helper's flags (media permission granted) Chromium binds its sockets to the
    // interface addresses, so the relay's XOR-MAPPED-ADDRESS (the relay row's related address) is
    // the host address itself, and Chromium drops a srflx equal to the host candidate. The page
    // must say so instead of calling the STUN server broken; srflx behind a real NAT is checked
    // in trickle-ice-nat.test.ts.
    const hosts = new Set(r.rows.filter((x) => x.type === 'host').map((x) => x.cells[COL.address]));
    expect(hosts.has(udpRelay!.cells[COL.relatedAddress]!), msg).toBe(true);
    expect(types.has('srflx'), msg).toBe(false);

    const byUrl = new Map(r.verdicts.map((v) => [v.url, v]));
    expect(byUrl.get(stunUrl), msg).toMatchObject({ status: 'warn', text: expect.stringMatching(/^STUN: no srflx \(same as host\?\)/) });
    expect(byUrl.get(turnUdpUrl), msg).toMatchObject({ status: 'ok', text: expect.stringMatching(/^TURN OK over udp \(relay seen: 127\.0\.0\.1:\d+\)$/) });
    // Every configured URL got a final verdict.
    expect(r.verdicts.filter((v) => v.status === 'pending'), msg).toEqual([]);
    expect(r.status).toMatch(/Gathering finished after \d+ ms/);
    for (const url of r.verdicts.map((v) => v.url).filter((u) => u !== stunUrl && u !== turnUdpUrl)) {
      if (byUrl.get(url)?.status !== 'ok') console.warn(`[trickle-ice] ${url}: ${byUrl.get(url)?.text}`);
    }
  });

  it('reports a wrong password as authentication failed (401)', async () => {
    const { iceServers } = await apiIceServers();
    const turn = iceServers.find((s) => s.urls.includes(turnUdpUrl))!;
    await setServers([{ urls: turnUdpUrl, username: turn.username, password: `${turn.credential}x` }]);
    const r = await gather();
    const msg = describeResult(r);
    expect(r.rows.filter((x) => x.type === 'relay'), msg).toEqual([]);
    const err = r.errors.find((e) => e.cells[2] === turnUdpUrl && e.cells[3] === '401');
    expect(err, msg).toBeDefined();
    expect(r.verdicts, msg).toEqual([{ entry: 0, url: turnUdpUrl, status: 'fail', text: expect.stringMatching(/^authentication failed \(401\)/) }]);
  });

  it('reports unreachable turn: URLs (closed loopback ports) as not reachable', async () => {
    // Nothing listens on these ports. Chromium retransmits the UDP Allocate for ≈ 40 s, then
    // reports 701 (for stun:host:port); a refused TCP connection ends gathering with no error.
    const udpPort = await freeUdpTcpPort();
    const tcpPort = await freeTcpPort();
    const udpUrl = `turn:127.0.0.1:${udpPort}?transport=udp`;
    const tcpUrl = `turn:127.0.0.1:${tcpPort}?transport=tcp`;
    await setServers([
      { urls: udpUrl, username: 'user', password: 'secret' },
      { urls: tcpUrl, username: 'user', password: 'secret' },
    ]);
    await setOption('#timeout', '70');
    const r = await gather(80_000);
    const msg = describeResult(r);
    expect(r.rows.filter((x) => x.type === 'relay'), msg).toEqual([]);
    expect(r.errors.some((e) => e.cells[3] === '701' && e.cells[2]!.includes(`127.0.0.1:${udpPort}`)), msg).toBe(true);
    const byUrl = new Map(r.verdicts.map((v) => [v.url, v]));
    expect(byUrl.get(udpUrl), msg).toMatchObject({ status: 'fail', text: 'not reachable (timeout)' });
    expect(byUrl.get(tcpUrl), msg).toMatchObject({ status: 'fail', text: expect.stringMatching(/^not reachable/) });
  });

  it('with ICE transport policy "relay" shows only relay candidates', async () => {
    await setOption('#policy', 'relay');
    const r = await gather();
    const msg = describeResult(r);
    expect(r.rows.length, msg).toBeGreaterThan(0);
    expect(r.rows.filter((x) => x.type !== 'relay'), msg).toEqual([]);
    const byUrl = new Map(r.verdicts.map((v) => [v.url, v]));
    expect(byUrl.get(turnUdpUrl)?.status, msg).toBe('ok');
    expect(byUrl.get(stunUrl)?.status, msg).toBe('skip');
  });

  it('asks for camera/microphone permission first when #getUserMedia is checked, and releases the devices', async () => {
    await page().check('#getUserMedia');
    await page().dispatchEvent('#getUserMedia', 'change');
    await page().evaluate(() => {
      const md = navigator.mediaDevices;
      const orig = md.getUserMedia.bind(md);
      const w = window as unknown as { __gum: MediaStream[] };
      w.__gum = [];
      md.getUserMedia = async (c) => {
        const st = await orig(c);
        w.__gum.push(st);
        return st;
      };
    });
    const r = await gather();
    expect(r.status, describeResult(r)).not.toMatch(/permission failed/);
    expect(r.rows.some((x) => x.type === 'host')).toBe(true);
    const gum = await page().evaluate(() =>
      (window as unknown as { __gum: MediaStream[] }).__gum.map((st) => st.getTracks().map((t) => `${t.kind}:${t.readyState}`)),
    );
    expect(gum).toEqual([expect.arrayContaining(['audio:ended', 'video:ended'])]);
  });

  it('"Stop" ends gathering early; unanswered URLs are marked as stopped', async () => {
    const udpPort = await freeUdpTcpPort();
    const url = `turn:127.0.0.1:${udpPort}?transport=udp`;
    await setServers([{ urls: url, username: 'user', password: 'secret' }]);
    await page().click('#gather');
    await page().waitForSelector('#gatherStatus[data-state=running]');
    await page().waitForTimeout(500);
    await page().click('#stop');
    await page().waitForSelector('#gatherStatus[data-state=done]', { timeout: 5000 });
    expect(await page().textContent('#gatherStatus')).toMatch(/#1 stopped/);
    expect(await page().getAttribute(`#verdicts tr[data-url="${url}"]`, 'data-status')).toBe('skip');
  });

  it('"Test relay" delivers data-channel messages relay ↔ relay through our relay', async () => {
    expect(await page().inputValue('#relayUrl')).toMatch(new RegExp(`\\|${turnUdpUrl.replace(/[?.]/g, '\\$&')}$`));
    await page().click('#testRelay');
    await page().waitForSelector('#relayResult[data-status=ok], #relayResult[data-status=fail]', { timeout: 40_000 });
    const text = await page().innerText('#relayResult');
    expect(await page().getAttribute('#relayResult', 'data-status'), text).toBe('ok');
    expect(await page().textContent('#relayStatus')).toMatch(/^OK: (\d+)\/\1 messages .* delivered through the relay \(udp\)/);
    const m = /Messages sent \/ delivered \/ echoed\s+(\d+) \/ (\d+) \/ (\d+)/.exec(text);
    expect(m, text).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(20);
    expect(m![2]).toBe(m![1]);
    // Both ends of the selected pair are relayed transport addresses of our relay.
    expect(text).toMatch(new RegExp(`Selected pair, local \\(A\\)\\s+relay 127\\.0\\.0\\.1:\\d+`));
    expect(text).toMatch(new RegExp(`Selected pair, remote \\(B\\)\\s+relay 127\\.0\\.0\\.1:\\d+`));
  });

  it('turns: works for a browser that trusts the relay certificate (TURN over TLS, relay test over tls)', async () => {
    // Chromium verifies the TURN server's TLS certificate (the self-signed test certificate gives
    // 701 "Failed to establish connection", see above); a browser told to ignore certificate
    // errors stands in for a deployment with a CA-signed certificate.
    const turnsUrl = `turns:127.0.0.1:${server.turnTlsPort}?transport=tcp`;
    const trusting = await launchPeer({ args: ['--ignore-certificate-errors'] });
    try {
      const p = trusting.page;
      await p.goto(`${server.url}/trickle-ice.html#token=${TEST_ICE_TOKEN}`);
      await p.waitForSelector('#defaultsStatus[data-state=loaded]');
      await p.click('#gather');
      await p.waitForSelector('#gatherStatus[data-state=done]', { timeout: 30_000 });
      const verdict = await p.textContent(`#verdicts tr[data-url="${turnsUrl}"] td:nth-child(4)`);
      expect(verdict, await p.innerText('#verdicts')).toMatch(/^TURN OK over tls \(relay seen: 127\.0\.0\.1:\d+\)$/);
      const relayProtocols = await p.$$eval('#candidates tbody tr[data-type=relay]', (trs) =>
        trs.map((tr) => `${(tr as HTMLTableRowElement).cells[16]?.textContent} ${(tr as HTMLTableRowElement).cells[15]?.textContent}`),
      );
      expect(relayProtocols).toContain(`${turnsUrl} tls`);

      const option = await p.$$eval('#relayUrl option', (os, u) => os.map((o) => (o as HTMLOptionElement).value).find((v) => v.endsWith(`|${u}`)), turnsUrl);
      expect(option).toBeDefined();
      await p.selectOption('#relayUrl', option!);
      await p.click('#testRelay');
      await p.waitForSelector('#relayResult[data-status=ok], #relayResult[data-status=fail]', { timeout: 40_000 });
      const text = await p.innerText('#relayResult');
      expect(await p.getAttribute('#relayResult', 'data-status'), text).toBe('ok');
      expect(await p.textContent('#relayStatus')).toMatch(/delivered through the relay \(tls\)/);
    } finally {
      await trusting.close();
    }
  });

  it('keeps the server list across a reload, with fresh credentials for the deployment entries', async () => {
    const before = await serverOptions();
    await page().selectOption('#servers', { index: before.findIndex((o) => o.urls.includes(turnUdpUrl)) });
    const oldUsername = await page().inputValue('#username');
    await page().fill('#url', 'stun:192.0.2.99:3478');
    await page().fill('#username', '');
    await page().fill('#password', '');
    await page().click('#add');
    await setOption('#poolSize', '2');
    await page().waitForTimeout(1100); // REST usernames carry the expiry in seconds
    await page().reload();
    await page().waitForSelector('#defaultsStatus[data-state=loaded]');
    const after = await serverOptions();
    expect(after.map((o) => [o.urls, o.origin])).toEqual([...before.map((o) => [o.urls, o.origin]), ['stun:192.0.2.99:3478', 'user']]);
    expect(await page().inputValue('#poolSize')).toBe('2');
    await page().selectOption('#servers', { index: after.findIndex((o) => o.urls.includes(turnUdpUrl)) });
    expect(await page().inputValue('#username')).not.toBe(oldUsername);
    // Reset goes back to the deployment's list.
    await page().click('#reset');
    await page().waitForSelector('#defaultsStatus[data-state=loaded]');
    await expect.poll(async () => (await serverOptions()).map((o) => o.urls)).toEqual(before.map((o) => o.urls));
  });

  it('exports valid JSON with the rows shown, passwords redacted', async () => {
    const r = await gather();
    const [download] = await Promise.all([page().waitForEvent('download'), page().click('#export')]);
    expect(download.suggestedFilename()).toMatch(/^trickle-ice-\d{8}T\d{6}Z\.json$/);
    const file = await download.path();
    const text = readFileSync(file, 'utf8');
    const report = JSON.parse(text);
    expect(report.format).toBe('trickle-ice-report/1');
    expect(report.userAgent).toMatch(/Chrome/);
    expect(Number.isNaN(Date.parse(report.time))).toBe(false);
    expect(report.gathering.rows.map((x: { type: string; address: string; port: number }) => [x.type, x.address, String(x.port)])).toEqual(
      r.rows.map((x) => [x.type, x.cells[COL.address], x.cells[COL.port]]),
    );
    expect(report.gathering.verdicts.map((v: { url: string; status: string }) => [v.url, v.status])).toEqual(r.verdicts.map((v) => [v.url, v.status]));
    const turn = report.servers.find((s: { urls: string[] }) => s.urls.includes(turnUdpUrl));
    expect(turn.credential).toBe('(redacted)');
    await page().selectOption('#servers', { index: report.servers.indexOf(turn) });
    expect(text).not.toContain(await page().inputValue('#password'));
  });
});
