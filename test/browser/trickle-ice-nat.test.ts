/**
 * Behind a real NAT: the trickle-ICE page in headless Chromium inside namespace `a` of
 * the NAT lab (test/natlab/lab.ts: 10.0.1.2 behind router `ra`, a port-preserving NAT whose WAN
 * address is 203.0.113.2), the real server and its relay in the lab's public namespace at
 * 203.0.113.10. Here the STUN server sees the router's address, so Chromium reports a genuine
 * server-reflexive candidate (on plain loopback it cannot: see trickle-ice.test.ts).
 *
 * Run `npm run build` first. Needs root, `ip netns`, iptables and Chromium; skipped loudly otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchPeer, type Peer } from '../helpers/browser.js';
import { TEST_ICE_TOKEN, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { LAB_ADDR, NatLab, labUnavailableReason, warnLabSkipped } from '../natlab/lab.js';

const S = LAB_ADDR.server;
const skipReason = labUnavailableReason() ?? (haveChromium ? null : 'Chromium not installed (/usr/bin/chromium; set CHROMIUM_PATH)');
if (skipReason) warnLabSkipped(skipReason, 'trickle-ICE page behind a NAT (test/browser/trickle-ice-nat.test.ts)');

let lab: NatLab | undefined;
let server: RunningServer | undefined;
let peer: Peer | undefined;

interface Row {
  type: string;
  address: string;
  port: string;
  relatedAddress: string;
  url: string;
}

describe.skipIf(skipReason !== null)('trickle-ICE page behind a NAT', () => {
  beforeAll(async () => {
    lab = new NatLab({ prefix: 'trickle', natA: 'port-preserving' });
    await lab.setup();
    const l = lab;
    server = await startServer({
      prefix: l.prefix('pub'),
      probeHost: S,
      probe: async (url, timeoutMs) => (await l.httpsGet('pub', url, timeoutMs)).status,
      env: {
        HTTPS_HOST: S,
        TURN_LISTEN: S,
        TURN_PUBLIC_HOST: S,
        // "Test relay" pairs two relayed transport addresses of this relay: allow its own address as a peer.
        TURN_ALLOWED_PEERS: `${S}/32`,
      },
    });
    peer = await launchPeer({ netns: l.ns.a, hosts: [S] });
  });

  afterAll(async () => {
    await peer?.close();
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
    lab?.teardown();
    expect(lab?.remainingNamespaces() ?? []).toEqual([]);
  });

  it('shows host, srflx (the NAT’s public address) and relay candidates, STUN and TURN OK, and relays data', async () => {
    const page = peer!.page;
    const turnPort = server!.turnPort;
    const stunUrl = `stun:${S}:${turnPort}`;
    const turnUdpUrl = `turn:${S}:${turnPort}?transport=udp`;
    await page.goto(`https://${S}:${server!.httpsPort}/trickle-ice.html#token=${TEST_ICE_TOKEN}`);
    await page.waitForSelector('#defaultsStatus[data-state=loaded]', { timeout: 15_000 });
    const urls = await page.$$eval('#servers option', (os) => os.flatMap((o) => ((o as HTMLOptionElement).dataset.urls ?? '').split(' ')));
    expect(urls).toEqual(expect.arrayContaining([stunUrl, turnUdpUrl]));

    await page.click('#gather');
    await page.waitForSelector('#gatherStatus[data-state=done]', { timeout: 60_000 });
    const rows: Row[] = await page.$$eval('#candidates tbody tr', (trs) =>
      trs.map((tr) => {
        const c = [...(tr as HTMLTableRowElement).cells].map((x) => x.textContent ?? '');
        return { type: c[3]!, address: c[6]!, port: c[7]!, relatedAddress: c[12]!, url: c[16]! };
      }),
    );
    const verdicts = await page.$$eval('#verdicts tbody tr', (trs) =>
      trs.map((tr) => ({ url: (tr as HTMLElement).dataset.url ?? '', status: (tr as HTMLElement).dataset.status ?? '', text: (tr as HTMLTableRowElement).cells[3]?.textContent ?? '' })),
    );
    const msg = `${await page.textContent('#gatherStatus')}\n${rows.map((r) => JSON.stringify(r)).join('\n')}\n${verdicts.map((v) => JSON.stringify(v)).join('\n')}`;

    expect(rows.filter((r) => r.type === 'host').map((r) => r.address), msg).toContain(LAB_ADDR.a);
    const srflx = rows.find((r) => r.type === 'srflx');
    expect(srflx, msg).toMatchObject({ address: LAB_ADDR.raWan, relatedAddress: LAB_ADDR.a });
    const relay = rows.find((r) => r.type === 'relay' && r.url === turnUdpUrl);
    // The relayed transport address is on the relay; its related address is the client's
    // server-reflexive (mapped) address as the relay saw it (XOR-MAPPED-ADDRESS, RFC 8656 §7.3).
    expect(relay, msg).toMatchObject({ address: S, relatedAddress: LAB_ADDR.raWan });

    const byUrl = new Map(verdicts.map((v) => [v.url, v]));
    expect(byUrl.get(stunUrl), msg).toMatchObject({ status: 'ok', text: `STUN OK (srflx seen: ${LAB_ADDR.raWan}:${srflx!.port})` });
    expect(byUrl.get(turnUdpUrl), msg).toMatchObject({ status: 'ok', text: expect.stringMatching(/^TURN OK over udp \(relay seen: 203\.0\.113\.10:\d+\)$/) });

    // Relay test through the NAT: relay ↔ relay on the public relay address.
    await page.click('#testRelay');
    await page.waitForSelector('#relayResult[data-status=ok], #relayResult[data-status=fail]', { timeout: 40_000 });
    const result = await page.innerText('#relayResult');
    expect(await page.getAttribute('#relayResult', 'data-status'), result).toBe('ok');
    expect(result).toMatch(/Selected pair, local \(A\)\s+relay 203\.0\.113\.10:\d+/);
  });
});
