/**
 * A small TURN client for tests, built on the relay's own codec (turn/stun): UDP or TCP/TLS,
 * long-term credentials with the 401/438 round trips, and a queue of received relayed data.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { restPassword as restPasswordFor } from '../../turn/auth/restCredentials.js';
import { createTurnServer, type TurnServer } from '../../turn/index.js';
import type { TurnServerOptions } from '../../turn/options.js';
import {
  Attr,
  AttributeType,
  StunClass,
  StunMethod,
  decodeMessage,
  encodeChannelData,
  encodeMessage,
  longTermKey,
  newTransactionId,
  type OutgoingAttribute,
  type StunMessage,
  type TransportAddress,
} from '../../turn/stun/index.js';
import { StreamFramer } from '../../turn/transport/stream.js';
import { freeUdpTcpPort, randomRelayRange } from '../helpers/ports.js';

export const REALM = 'test.realm';
export const SECRET = 'test-shared-secret';

/** Start a relay on 127.0.0.1 with test-friendly options (loopback peers allowed). */
export async function startRelay(extra: Partial<TurnServerOptions> = {}): Promise<{ relay: TurnServer; port: number; range: { min: number; max: number } }> {
  const port = extra.port ?? (await freeUdpTcpPort());
  const range = extra.minPort !== undefined && extra.maxPort !== undefined ? { min: extra.minPort, max: extra.maxPort } : randomRelayRange(100);
  const relay = createTurnServer({
    realm: REALM,
    secrets: [SECRET],
    listen: '127.0.0.1',
    allowedPeers: ['127.0.0.0/8'],
    sweepIntervalMs: 100,
    ...extra,
    port,
    minPort: range.min,
    maxPort: range.max,
  });
  await relay.start();
  return { relay, port, range };
}

/** Something that delivers datagrams/frames and carries bytes to the relay. */
interface Pipe {
  send(buf: Buffer): void;
  close(): void;
}

export type Received = { kind: 'channel'; channel: number; data: Buffer } | { kind: 'data'; peer: TransportAddress; data: Buffer };

export interface Credentials {
  username: string;
  password: string;
}

/** TURN client for tests. */
export class TestClient {
  private pipe!: Pipe;
  private readonly waiting = new Map<string, (m: StunMessage) => void>();
  readonly received: Received[] = [];
  private dataWaiters: Array<() => void> = [];
  nonce: string | undefined;
  realm: string | undefined;
  key: Buffer | undefined;
  /** Every STUN response received (for assertions on MESSAGE-INTEGRITY etc.). */
  readonly responses: StunMessage[] = [];
  local: TransportAddress | undefined;

  private constructor(
    public creds: Credentials,
    readonly stream: boolean,
  ) {}

  /** Connect over UDP/TCP/TLS to 127.0.0.1:port. */
  static async open(port: number, creds: Credentials, transport: 'udp' | 'tcp' | 'tls' = 'udp', host = '127.0.0.1'): Promise<TestClient> {
    const c = new TestClient(creds, transport !== 'udp');
    const family = host.includes(':') ? 6 : 4;
    if (transport === 'udp') {
      const s: UdpSocket = createSocket(family === 6 ? 'udp6' : 'udp4');
      await new Promise<void>((r) => s.bind(0, host, r));
      s.on('message', (m) => c.onBytes(m));
      c.local = { family, address: host, port: s.address().port };
      c.pipe = { send: (b) => s.send(b, port, host), close: () => s.close() };
    } else {
      const sock: Socket = await new Promise((resolve, reject) => {
        const s = transport === 'tcp' ? tcpConnect(port, host) : tlsConnect({ port, host, rejectUnauthorized: false });
        s.once(transport === 'tcp' ? 'connect' : 'secureConnect', () => resolve(s));
        s.once('error', reject);
      });
      const framer = new StreamFramer();
      sock.on('data', (chunk: Buffer) => framer.push(chunk, (f) => c.onBytes(Buffer.from(f))));
      sock.on('error', () => {});
      c.local = { family, address: host, port: sock.localPort! };
      c.pipe = { send: (b) => sock.write(b), close: () => sock.destroy() };
      c.socket = sock;
    }
    return c;
  }

  socket: Socket | undefined;

  private onBytes(m: Buffer): void {
    if (m.length >= 4 && (m[0]! & 0xc0) === 0x40) {
      const len = m.readUInt16BE(2);
      this.push({ kind: 'channel', channel: m.readUInt16BE(0), data: Buffer.from(m.subarray(4, 4 + len)) });
      return;
    }
    let msg: StunMessage;
    try {
      msg = decodeMessage(m);
    } catch {
      return;
    }
    if (msg.cls === StunClass.Indication && msg.method === StunMethod.Data) {
      this.push({ kind: 'data', peer: msg.getXorAddress(AttributeType.XOR_PEER_ADDRESS)!, data: Buffer.from(msg.get(AttributeType.DATA)!) });
      return;
    }
    if (msg.cls === StunClass.SuccessResponse || msg.cls === StunClass.ErrorResponse) {
      this.responses.push(msg);
      const w = this.waiting.get(msg.transactionId.toString('hex'));
      if (w) w(msg);
    }
  }

  private push(r: Received): void {
    this.received.push(r);
    const ws = this.dataWaiters;
    this.dataWaiters = [];
    for (const w of ws) w();
  }

  /** Send raw bytes. */
  sendRaw(buf: Buffer): void {
    this.pipe.send(buf);
  }

  /**
   * Send a request and wait for its response (retransmits over UDP every 300 ms, up to `timeoutMs`).
   * @returns the response, or throws on timeout.
   */
  async transact(method: number, attributes: OutgoingAttribute[] | ((tid: Buffer) => OutgoingAttribute[]), opts: { sign?: boolean; tid?: Buffer; timeoutMs?: number } = {}): Promise<StunMessage> {
    const tid = opts.tid ?? newTransactionId();
    const attrs = typeof attributes === 'function' ? attributes(tid) : [...attributes];
    const sign = opts.sign !== false && this.nonce !== undefined && this.key !== undefined;
    if (sign) attrs.push(Attr.username(this.creds.username), Attr.realm(this.realm!), Attr.nonce(this.nonce!));
    const buf = encodeMessage({ method, cls: StunClass.Request, transactionId: tid, attributes: attrs }, { integrityKey: sign ? this.key : undefined, fingerprint: true });
    const key = tid.toString('hex');
    return new Promise<StunMessage>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? 3000;
      const retransmit = this.stream ? undefined : setInterval(() => this.pipe.send(buf), 300);
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        if (retransmit) clearInterval(retransmit);
        reject(new Error(`no response to method 0x${method.toString(16)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(key, (m) => {
        this.waiting.delete(key);
        clearTimeout(timer);
        if (retransmit) clearInterval(retransmit);
        resolve(m);
      });
      this.pipe.send(buf);
    });
  }

  /**
   * An authenticated request: on 401/438 picks up REALM/NONCE and retries (at most twice).
   * @returns the final response.
   */
  async request(method: number, attributes: OutgoingAttribute[] | ((tid: Buffer) => OutgoingAttribute[]) = [], opts: { timeoutMs?: number } = {}): Promise<StunMessage> {
    for (let i = 0; i < 3; i++) {
      const res = await this.transact(method, attributes, opts);
      const err = res.getErrorCode();
      if (err && (err.code === 401 || err.code === 438) && res.has(AttributeType.NONCE) && i < 2) {
        const hadNonce = this.nonce !== undefined && err.code === 401;
        this.nonce = res.getString(AttributeType.NONCE);
        this.realm = res.getString(AttributeType.REALM);
        this.key = longTermKey(this.creds.username, this.realm!, this.creds.password);
        if (hadNonce) return res; // wrong credentials: do not loop
        continue;
      }
      return res;
    }
    throw new Error('unreachable');
  }

  /** Allocate; resolves with the response (check for errors yourself). */
  allocate(extra: OutgoingAttribute[] = [], lifetime?: number): Promise<StunMessage> {
    const attrs = [Attr.requestedTransport(), ...extra];
    if (lifetime !== undefined) attrs.push(Attr.lifetime(lifetime));
    return this.request(StunMethod.Allocate, attrs);
  }

  /** Allocate and return the relayed address; throws on an error response. */
  async allocateOk(lifetime?: number): Promise<TransportAddress> {
    const res = await this.allocate([], lifetime);
    const err = res.getErrorCode();
    if (err) throw new Error(`Allocate failed: ${err.code} ${err.reason}`);
    return res.getXorAddress(AttributeType.XOR_RELAYED_ADDRESS)!;
  }

  createPermission(...peers: TransportAddress[]): Promise<StunMessage> {
    return this.request(StunMethod.CreatePermission, (tid) => peers.map((p) => Attr.xorPeerAddress(p, tid)));
  }

  channelBind(channel: number, peer: TransportAddress): Promise<StunMessage> {
    return this.request(StunMethod.ChannelBind, (tid) => [Attr.channelNumber(channel), Attr.xorPeerAddress(peer, tid)]);
  }

  refresh(lifetime?: number): Promise<StunMessage> {
    return this.request(StunMethod.Refresh, lifetime === undefined ? [] : [Attr.lifetime(lifetime)]);
  }

  /** Send indication to `peer`. */
  sendIndication(peer: TransportAddress, data: Buffer): void {
    const tid = newTransactionId();
    this.pipe.send(encodeMessage({ method: StunMethod.Send, cls: StunClass.Indication, transactionId: tid, attributes: [Attr.xorPeerAddress(peer, tid), Attr.data(data)] }, { fingerprint: true }));
  }

  /** ChannelData to the relay (padded on streams). */
  sendChannelData(channel: number, data: Buffer): void {
    this.pipe.send(encodeChannelData(channel, data, this.stream));
  }

  /** Wait until something relayed arrives that `match` accepts (default: anything). */
  async nextReceived(timeoutMs = 2000, match: (r: Received) => boolean = () => true): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(match);
      if (i >= 0) return this.received.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('nothing received in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.dataWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.pipe.close();
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
  return { username, password: restPasswordFor(secret, username) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
