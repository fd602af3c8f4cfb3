/**
 * Helpers for the relay tests: a relay on 127.0.0.1 with test-friendly options, a TURN client from
 * the relay's own client library (turn/client) with an inbox of relayed data, UDP peers, TURN
 * REST credentials, and {@link eachDataPath} to run a suite on both data paths.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { describe, it } from 'vitest';
import { loadNativeAddon } from '../../turn/native/nativeDataPath.js';
import { TurnClient, createTurnServer, openServerConnection, restPassword, type TransportAddress, type TurnServer, type TurnServerOptions, type TurnTransport } from '../../turn/index.js';
import { freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';

export const REALM = 'test.realm';
export const SECRET = 'test-shared-secret';

/** The data paths every relay suite runs on. */
export type TestDataPath = 'js' | 'native';
export const DATA_PATHS: readonly TestDataPath[] = ['js', 'native'];

const native = loadNativeAddon();
/** Why the native data path cannot be tested here (undefined when the addon is built). */
export const nativeSkipReason = native.ok ? undefined : native.reason;

/**
 * `describe.each` over both data paths: `suite(dataPath)` defines the tests once; pass `dataPath`
 * to {@link startRelay}. Without a built addon the native half is one loudly skipped test naming
 * the reason.
 */
export function eachDataPath(suite: (dataPath: TestDataPath) => void): void {
  describe.each(DATA_PATHS)('%s data path', (dataPath) => {
    if (dataPath === 'native' && nativeSkipReason !== undefined) {
      console.warn(`\n*** NATIVE DATA PATH SKIPPED: ${nativeSkipReason} ***\n`);
      it.skip(`native data path unavailable: ${nativeSkipReason}`, () => {});
      return;
    }
    suite(dataPath);
  });
}

/**
 * Start a relay on 127.0.0.1 with test-friendly options (loopback peers allowed). The native data
 * path runs two worker threads, so tests with several clients spread over threads.
 */
export async function startRelay(extra: Partial<TurnServerOptions> = {}): Promise<{ relay: TurnServer; port: number; range: { min: number; max: number } }> {
  const port = extra.port ?? (await freeUdpTcpPort());
  const range = extra.minPort !== undefined && extra.maxPort !== undefined ? { min: extra.minPort, max: extra.maxPort } : randomRelayRange(100);
  const relay = createTurnServer({
    realm: REALM,
    secrets: [SECRET],
    listen: '127.0.0.1',
    allowedPeers: ['127.0.0.0/8'],
    sweepIntervalMs: 100,
    ...(extra.dataPath === 'native' ? { relayThreads: 2 } : {}),
    ...extra,
    port,
    minPort: range.min,
    maxPort: range.max,
  });
  await relay.start();
  // The relay runs on the data path the test asked for (with 'native': not silently on JavaScript).
  if (extra.dataPath && extra.dataPath !== 'auto' && relay.stats().dataPath.kind !== extra.dataPath) throw new Error(`relay runs on ${relay.stats().dataPath.kind}, not ${extra.dataPath}`);
  return { relay, port, range };
}

/** Relayed data as the test client received it. */
export type Received = { kind: 'channel'; channel: number; data: Buffer } | { kind: 'data'; peer: TransportAddress; data: Buffer };

export interface Credentials {
  username: string;
  password: string;
}

/**
 * The library's TURN client plus an inbox: every piece of relayed data is queued in `received`,
 * and `nextReceived()` waits for the next one. Retransmits over UDP from 300 ms on, gives up on a
 * transaction after 3 s.
 */
export class TestClient extends TurnClient {
  readonly received: Received[] = [];
  private waiters: Array<() => void> = [];

  /** Connect over UDP/TCP/TLS to `host`:`port` from `host` (the TLS certificate is not checked). */
  static async open(port: number, creds: Credentials, transport: TurnTransport = 'udp', host = '127.0.0.1'): Promise<TestClient> {
    return new TestClient(await openServerConnection({ transport, host, port, localAddress: host }), creds, { rtoMs: 300, timeoutMs: 3000 });
  }

  constructor(...args: ConstructorParameters<typeof TurnClient>) {
    super(...args);
    this.onPeerData = (data, via, peer, channel) => {
      this.received.push(via === 'channel' ? { kind: 'channel', channel: channel!, data: Buffer.from(data) } : { kind: 'data', peer: peer!, data: Buffer.from(data) });
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    };
  }

  /** Wait until something relayed arrives that `match` accepts (default: anything), and take it from the inbox. */
  async nextReceived(timeoutMs = 2000, match: (r: Received) => boolean = () => true): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(match);
      if (i >= 0) return this.received.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('nothing received in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** A UDP "peer" on 127.0.0.1 that records what it receives. */
export class TestPeer {
  readonly received: Array<{ data: Buffer; from: TransportAddress }> = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly socket: UdpSocket) {
    socket.on('message', (m, r) => {
      this.received.push({ data: m, from: { family: r.family === 'IPv6' ? 6 : 4, address: r.address, port: r.port } });
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    });
  }

  static async open(address = '127.0.0.1'): Promise<TestPeer> {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((r) => s.bind(0, address, r));
    return new TestPeer(s);
  }

  get address(): TransportAddress {
    const a = this.socket.address();
    return { family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port };
  }

  send(to: TransportAddress, data: Buffer): void {
    this.socket.send(data, to.port, to.address);
  }

  async next(timeoutMs = 2000): Promise<{ data: Buffer; from: TransportAddress }> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('peer received nothing in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received.shift()!;
  }

  /** Wait `ms` and return how many datagrams arrived meanwhile (and clear them). */
  async quietFor(ms: number): Promise<number> {
    await new Promise((r) => setTimeout(r, ms));
    const n = this.received.length;
    this.received.length = 0;
    return n;
  }

  close(): void {
    this.socket.close();
  }
}

/** Fresh REST credentials for `user`, valid `ttlS` seconds (negative = already expired). */
export function restCreds(user = 'alice', ttlS = 3600, secret = SECRET): Credentials {
  const username = `${Math.floor(Date.now() / 1000) + ttlS}:${user}`;
  return { username, password: restPassword(secret, username) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
