/**
 * Calls in the NAT lab: the real server (`node dist/server/main.js`, as `npm start` runs it, with
 * its relay child) inside the lab's public namespace, and two headless Chromium peers inside the
 * peer namespaces `a` and `b` opening the real call page. Shared by the NAT-lab test files.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expectMediaFlowing, launchPeer, waitForStats, type MediaStats, type Peer } from '../helpers/browser.js';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { LAB_ADDR, type NatLab } from './lab.js';

const S = LAB_ADDR.server;

/**
 * Start the real server inside `lab`'s public namespace at {@link LAB_ADDR}.server (web server and
 * relay on that address; readiness probed from inside the namespace, since the test process has no
 * route into the lab). `url` of the result is `https://203.0.113.10:PORT`.
 * @param env extra/overriding environment (e.g. `{ TURN_ENABLED: 'false' }`; undefined removes a key).
 * @throws Error with the server's output when it does not become ready.
 */
export function startLabServer(lab: NatLab, env: Record<string, string | undefined> = {}): Promise<RunningServer> {
  const base: Record<string, string | undefined> = {
    HTTPS_HOST: S,
    TURN_LISTEN: S,
    TURN_PUBLIC_HOST: S,
    // The peers' public addresses (203.0.113.2/.3, TEST-NET-3) pass the relay's default peer
    // policy; the relay's own address does not, and relay<->relay candidate pairs need it.
    TURN_ALLOWED_PEERS: `${S}/32`,
    ...env,
  };
  // A key given as undefined is left out (e.g. no TURN_PUBLIC_HOST: with TURN_ENABLED=false it
  // would name a relay host of our own and hand out its turn: URLs).
  const merged = Object.fromEntries(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined));
  return startServer({
    prefix: lab.prefix('pub'),
    probeHost: S,
    probe: async (url, timeoutMs) => (await lab.httpsGet('pub', url, timeoutMs)).status,
    env: merged,
  });
}

/** Stop a server started by {@link startLabServer} and remove its temp dirs. */
export async function stopLabServer(server: RunningServer): Promise<void> {
  await server.stop();
  removeServerDirs(server);
}

/**
 * base64 SHA-256 of the server certificate's SubjectPublicKeyInfo (`<CERTS_DIR>/server.crt`, the
 * self-signed certificate the server generated), for Chromium's `--ignore-certificate-errors-spki-list`.
 * Chromium verifies TURNS certificates (a self-signed one makes the TLS allocation fail, measured);
 * this trusts exactly the server's key, like a CA-signed certificate in a real deployment.
 */
export function serverSpkiHash(server: RunningServer): string {
  const cert = new X509Certificate(readFileSync(path.join(server.env.CERTS_DIR!, 'server.crt')));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Status line text of a peer's page. */
export async function statusText(peer: Peer): Promise<string> {
  return (await peer.page.textContent('#status')) ?? '';
}

/** `local[/relayProtocol] -> remote` candidate types of the selected pair. */
export function describePair(s: MediaStats): string {
  return `${s.localCandidateType}${s.relayProtocol ? `/${s.relayProtocol}` : ''} -> ${s.remoteCandidateType}`;
}

/** A call between A (namespace a) and B (namespace b). */
export interface LabCall {
  a: Peer;
  b: Peer;
  room: string;
  /** ms from B's Join click until both peer connections are `connected`; -1 when not waited for. */
  connectedMs: number;
  /** `Date.now()` when B clicked Join. */
  joinedAt: number;
}

/** Options of {@link startCall}. */
export interface StartCallOptions {
  /** Room number (default: a random 5-digit one). */
  room?: string;
  /** Wait until both report `connected` (default true). */
  waitConnected?: boolean;
  /** ms to wait for `connected` (default 40 000). */
  connectTimeoutMs?: number;
  /** Extra Chromium switches for A / B. */
  argsA?: string[];
  argsB?: string[];
}

/**
 * Launch peer A (in namespace a) and B (in b), both open `https://203.0.113.10:PORT/?room=N`;
 * A joins (and waits for the other person), then B joins. The peers are pushed to `peers` as soon
 * as they exist, so the caller's cleanup closes them even when this throws.
 * @throws Error with the page's status and log when A never waits or a side never connects.
 */
export async function startCall(lab: NatLab, server: RunningServer, peers: Peer[], opts: StartCallOptions = {}): Promise<LabCall> {
  const room = opts.room ?? String(10_000 + Math.floor(Math.random() * 89_999));
  const launched = await Promise.allSettled([
    launchPeer({ netns: lab.ns.a, hosts: [S], args: opts.argsA }),
    launchPeer({ netns: lab.ns.b, hosts: [S], args: opts.argsB }),
  ]);
  for (const l of launched) if (l.status === 'fulfilled') peers.push(l.value);
  for (const l of launched) if (l.status === 'rejected') throw l.reason;
  const [a, b] = launched.map((l) => (l as PromiseFulfilledResult<Peer>).value) as [Peer, Peer];
  const url = `https://${S}:${server.httpsPort}/?room=${room}`;
  await Promise.all([a.page.goto(url), b.page.goto(url)]);
  await a.page.click('#join');
  await a.page
    .waitForFunction(() => /waiting for the other person/i.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 15_000, polling: 100 })
    .catch(async () => {
      throw new Error(`A never waited for the other person; status "${await statusText(a)}"\n${a.logs.slice(-30).join('\n')}`);
    });
  const joinedAt = Date.now();
  await b.page.click('#join');
  let connectedMs = -1;
  if (opts.waitConnected !== false) {
    const t = opts.connectTimeoutMs ?? 40_000;
    await Promise.all([
      waitForStats(a, (s) => s.connectionState === 'connected', t, 'A connected'),
      waitForStats(b, (s) => s.connectionState === 'connected', t, 'B connected'),
    ]);
    connectedMs = Date.now() - joinedAt;
  }
  return { a, b, room, connectedMs, joinedAt };
}

/** The call controller's negotiation counters (`window.__call.call.counters()` of the page), or null. */
export async function callCounters(peer: Peer): Promise<Record<string, number> | null> {
  return peer.page.evaluate(() => {
    const h = (window as unknown as { __call?: { call?: { counters?: () => Record<string, number> } } }).__call;
    return h?.call?.counters ? h.call.counters() : null;
  });
}

/**
 * {@link expectMediaFlowing} with up to `attempts` 2-s windows (default 3): tolerates one transient
 * video freeze (seen when the shared 2-core machine is overloaded: the jitter buffer stalls the
 * decoder for a second or two) but still fails when media does not flow.
 * @throws the last attempt's error.
 */
export async function expectMediaFlowingSoon(peer: Peer, attempts = 3): Promise<MediaStats> {
  for (let i = 1; ; i++) {
    try {
      return await expectMediaFlowing(peer);
    } catch (e) {
      if (i >= attempts) throw e;
    }
  }
}
