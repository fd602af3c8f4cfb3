/**
 * A trusted certificate by itself: the real server (`node dist/server/main.js`) with
 * ACME_DOMAIN against Debian's `pebble`, HTTP-01 challenges really validated (Pebble resolves the
 * test domain to 127.0.0.1 through a DNS stub and fetches the token from HTTP_PORT), certificates
 * living 45 s so that the real two-thirds renewal schedule runs during the test.
 *
 * Browsers trust Pebble's issuing root only through an NSS database in their HOME: no
 * certificate-error flags, no `ignoreHTTPSErrors`. The domain is mapped to 127.0.0.1 with
 * `--host-resolver-rules`. The deployment hands out only `turns:` (TURN_URLS), so every relayed
 * packet of the call below crosses the relay's TLS listener whose certificate gets swapped.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchPeer, type Peer, type PeerOptions } from '../helpers/browser.js';
import { havePebble, startPebble, trustRootInNssDb, type Pebble } from '../helpers/pebble.js';
import { freeTcpPort } from '../helpers/ports.js';
import { TEST_ICE_TOKEN, httpsGet, removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { callDebug, inboundRates, joinCall, newRoom, openCallPage, pollUntil, waitForStatus } from '../browser/call-helpers.js';

const DOMAIN = 'call.acme.test';
/** Lifetime of Pebble's certificates, s: renewal is due after 30 s. */
const VALIDITY_S = 45;

interface Served {
  serial: string;
  issuer: string;
  san: string;
  validTo: string;
  authorized: boolean;
  error?: string;
}

/**
 * Open a fresh TLS connection to 127.0.0.1:`port` with SNI `DOMAIN` and describe the leaf.
 * With `ca`, the chain and the name are verified against it (`authorized`).
 */
function servedCert(port: number, ca?: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: DOMAIN, ca, rejectUnauthorized: false, timeout: 5000 }, () => {
      const c = sock.getPeerCertificate();
      const r: Served = {
        serial: c.serialNumber,
        issuer: String(c.issuer?.CN ?? ''),
        san: c.subjectaltname ?? '',
        validTo: c.valid_to,
        authorized: sock.authorized,
        ...(sock.authorizationError ? { error: String(sock.authorizationError) } : {}),
      };
      // Name check too (rejectUnauthorized: false skips it).
      if (r.authorized && tls.checkServerIdentity(DOMAIN, c) !== undefined) r.authorized = false;
      sock.end();
      resolve(r);
    });
    sock.on('timeout', () => sock.destroy(new Error(`TLS timeout on ${port}`)));
    sock.on('error', reject);
  });
}

function plainGet(port: number, pathAndQuery: string, host: string): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, headers: { Host: host }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on('error', reject);
  });
}

function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe.skipIf(!havePebble || !haveChromium)('trusted certificate from an ACME CA (pebble)', () => {
  let pebble: Pebble;
  let server: RunningServer;
  let root: string;
  let httpPort: number;
  const peers: Peer[] = [];
  const homes: string[] = [];

  /** Browser options: the domain mapped to loopback, certificates verified, trust from `home`'s NSS db. */
  function trustingBrowser(): PeerOptions {
    const home = mkdtempSync(path.join(tmpdir(), 'webrtc-call-home-'));
    homes.push(home);
    trustRootInNssDb(home, root);
    return { hostMap: { [DOMAIN]: '127.0.0.1' }, verifyCertificates: true, home };
  }

  beforeAll(async () => {
    httpPort = await freeTcpPort();
    pebble = await startPebble({ httpPort, validitySeconds: VALIDITY_S });
    root = await pebble.root();
    const tlsPort = await freeTcpPort();
    server = await startServer({
      env: {
        ACME_DOMAIN: DOMAIN,
        ACME_EMAIL: 'ops@example.org',
        ACME_DIRECTORY: pebble.directoryUrl,
        HTTP_PORT: String(httpPort),
        NODE_EXTRA_CA_CERTS: pebble.listenerCaFile,
        TURN_TLS_PORT: String(tlsPort),
        TURN_URLS: `turns:${DOMAIN}:${tlsPort}?transport=tcp`,
      },
    });
  });

  afterAll(async () => {
    for (const p of peers) await p.close();
    if (server) {
      await server.stop();
      removeServerDirs(server);
    }
    await pebble?.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('starts without a certificate, obtains one by HTTP-01 and serves it on HTTPS and the relay TLS port', async () => {
    // Started with nothing: the self-signed certificate first, then the order in the background.
    expect(server.output()).toMatch(/self-signed certificate generated/);
    const served = await pollUntil(() => servedCert(server.httpsPort, root), (s) => s.authorized, 30_000, 'a certificate from pebble on HTTPS');
    expect(served.issuer).toMatch(/^Pebble Intermediate CA/);
    expect(served.san).toBe(`DNS:${DOMAIN}`);
    // The relay (a separate process) serves the same certificate within its poll interval.
    const relayServed = await pollUntil(() => servedCert(server.turnTlsPort, root), (s) => s.serial === served.serial, 15_000, 'the same certificate on the relay TLS port');
    expect(relayServed.authorized).toBe(true);

    // Pebble really validated the challenge on HTTP_PORT (no "always valid" shortcut).
    expect(pebble.dns.queries).toContain(`${DOMAIN}/1`);
    expect(server.output()).toMatch(/GET \/\.well-known\/acme-challenge\/[A-Za-z0-9_-]+ HTTP\/1\.1" 200/);
    expect(pebble.output()).toMatch(/set VALID by completed challenge/);

    // Files under CERTS_DIR/acme: keys private, written whole.
    const dir = path.join(server.env.CERTS_DIR!, 'acme');
    expect(statSync(path.join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'account.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(dir, 'cert.pem'), 'utf8').match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThanOrEqual(2); // leaf + intermediate

    // Plain HTTP redirects everything else to HTTPS, keeping path and query.
    const r = await plainGet(httpPort, '/?room=1234', `${DOMAIN}:${httpPort}`);
    expect(r.status).toBe(301);
    expect(r.location).toBe(`https://${DOMAIN}:${server.httpsPort}/?room=1234`);
    expect((await plainGet(httpPort, '/.well-known/acme-challenge/not-a-current-token-at-all', DOMAIN)).status).toBe(404);

    // Expiry in /metrics.
    const m = (await httpsGet(`${server.url}/metrics`)).body;
    const expiry = metric(m, 'webrtc_tls_certificate_expiry_seconds', '{source="acme"}');
    expect(expiry).toBeGreaterThan(Date.now() / 1000);
    expect(expiry).toBeLessThanOrEqual(Date.now() / 1000 + VALIDITY_S);
    expect(metric(m, 'webrtc_acme_orders_total', '{result="success"}')).toBeGreaterThanOrEqual(1);
  });

  it('headless Chromium trusting only Pebble\'s root loads the page by name and gathers a turns: relay candidate', async () => {
    await pollUntil(() => servedCert(server.httpsPort, root), (s) => s.authorized, 30_000, 'a trusted certificate');
    const origin = `https://${DOMAIN}:${server.httpsPort}`;

    // Control: the same browser without the root refuses the page (so trust comes from the NSS db).
    const home = mkdtempSync(path.join(tmpdir(), 'webrtc-call-home-'));
    homes.push(home);
    const untrusting = await launchPeer({ hostMap: { [DOMAIN]: '127.0.0.1' }, verifyCertificates: true, home });
    peers.push(untrusting);
    await expect(untrusting.page.goto(`${origin}/`)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
    await untrusting.close();

    const peer = await launchPeer(trustingBrowser());
    peers.push(peer);
    const res = await peer.page.goto(`${origin}/`);
    expect(res?.status()).toBe(200);
    const result = await peer.page.evaluate(async (token) => {
      // A tester's request: the ICE servers with the tester token (ICE_TOKEN).
      const { iceServers } = (await (await fetch('/api/ice-servers', { cache: 'no-store', headers: { authorization: `Bearer ${token}` } })).json()) as { iceServers: RTCIceServer[] };
      const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
      const candidates: { type: string | null; relayProtocol: string | null; url: string | null; address: string | null }[] = [];
      const errors: string[] = [];
      pc.addEventListener('icecandidateerror', (e) => errors.push(`${(e as RTCPeerConnectionIceErrorEvent).url} ${(e as RTCPeerConnectionIceErrorEvent).errorCode} ${(e as RTCPeerConnectionIceErrorEvent).errorText}`));
      const done = new Promise<void>((resolve) => {
        pc.addEventListener('icecandidate', (e) => {
          if (!e.candidate) return resolve();
          const c = e.candidate as RTCIceCandidate & { relayProtocol?: string; url?: string };
          candidates.push({ type: c.type, relayProtocol: c.relayProtocol ?? null, url: c.url ?? null, address: c.address });
          if (c.type === 'relay') setTimeout(resolve, 500); // a moment for more to trickle in
        });
        setTimeout(resolve, 15_000);
      });
      pc.createDataChannel('probe');
      await pc.setLocalDescription(await pc.createOffer());
      await done;
      pc.close();
      return { urls: iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls])), candidates, errors };
    }, TEST_ICE_TOKEN);
    expect(result.urls.some((u) => u.startsWith(`turns:${DOMAIN}:`))).toBe(true);
    const relay = result.candidates.filter((c) => c.type === 'relay');
    expect(relay.length, JSON.stringify(result)).toBeGreaterThan(0);
    expect(relay.every((c) => c.relayProtocol === 'tls'), JSON.stringify(result)).toBe(true);
    expect(relay[0]!.url).toMatch(/^turns:/);
    await peer.close();
  });

  it('a renewal swaps the certificate of HTTPS and of the relay TLS listener while a call through TURN/TLS keeps decoding', async () => {
    // A relay-only call: with only turns: handed out, every packet crosses the relay's TLS listener.
    const room = newRoom();
    const origin = `https://${DOMAIN}:${server.httpsPort}`;
    const a = await openCallPage(peers, origin, room, 'relay=1', trustingBrowser());
    await joinCall(a);
    await waitForStatus(a, /waiting for the other person/i, 20_000);
    const b = await openCallPage(peers, origin, room, 'relay=1', trustingBrowser());
    await joinCall(b);
    await Promise.all([waitForStatus(a, /^connected$/i, 30_000), waitForStatus(b, /^connected$/i, 30_000)]);
    const before = await inboundRates(b.page, 1500);
    expect(before.fps, 'frames decoded before the renewal').toBeGreaterThan(5);
    const pair = await b.page.evaluate(async () => {
      const pc = (window as unknown as { __call: { call: { peer: { pc: RTCPeerConnection } } } }).__call.call.peer.pc;
      let out = '';
      (await pc.getStats()).forEach((s: Record<string, unknown>) => {
        if (s.type === 'local-candidate' && s.candidateType === 'relay') out = String(s.relayProtocol);
      });
      return out;
    });
    expect(pair).toBe('tls');
    const pcsBefore = [(await callDebug(a.page)).pcsCreated, (await callDebug(b.page)).pcsCreated];

    // Wait for the scheduled renewal (two thirds of 45 s after issuance), seen by fresh connections.
    const old = await servedCert(server.httpsPort, root);
    const renewed = await pollUntil(() => servedCert(server.httpsPort, root), (s) => s.serial !== old.serial, VALIDITY_S * 1000 + 30_000, 'a renewed certificate on HTTPS');
    expect(renewed.authorized).toBe(true);
    expect(renewed.issuer).toMatch(/^Pebble Intermediate CA/);
    const relayRenewed = await pollUntil(() => servedCert(server.turnTlsPort, root), (s) => s.serial === renewed.serial, 15_000, 'the renewed certificate on the relay TLS port');
    expect(relayRenewed.authorized).toBe(true);
    expect(server.output()).toMatch(/TLS certificate reloaded: acme/);

    // The call never noticed: same peer connections, still connected, frames still decoding both ways.
    const [ra, rb] = await Promise.all([inboundRates(a.page, 2000), inboundRates(b.page, 2000)]);
    expect(ra.fps, 'frames decoded by the first peer after the renewal').toBeGreaterThan(5);
    expect(rb.fps, 'frames decoded by the second peer after the renewal').toBeGreaterThan(5);
    const [da, db] = [await callDebug(a.page), await callDebug(b.page)];
    expect([da.connectionState, db.connectionState]).toEqual(['connected', 'connected']);
    expect([da.pcsCreated, db.pcsCreated]).toEqual(pcsBefore);

    const m = (await httpsGet(`${server.url}/metrics`)).body;
    expect(metric(m, 'webrtc_acme_orders_total', '{result="success"}')).toBeGreaterThanOrEqual(2);
    expect(metric(m, 'webrtc_tls_certificate_reloads_total')).toBeGreaterThanOrEqual(2);
  });
});
