/**
 * The STUN/TURN relay: request processing (RFC 8489 STUN, RFC 8656 TURN) over UDP, TCP and TLS,
 * long-term credentials (TURN REST + static users), allocations with permissions and channels,
 * and the data relaying hot path.
 *
 * Robustness rules: every socket handler is wrapped (an exception is counted as `internalErrors`,
 * never thrown out); malformed input is dropped and counted by reason; unauthenticated requests
 * cost no memory beyond a bounded per-IP token bucket.
 */
import type { RemoteInfo } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { AuthResult } from './auth/longTermCredentials.js';
import { authenticate, type CredentialSources } from './auth/longTermCredentials.js';
import { NonceManager } from './auth/nonce.js';
import { UserStore } from './auth/userStore.js';
import type { Allocation, AllocationInfo } from './allocation/allocation.js';
import { isValidChannel } from './stun/channelData.js';
import { AllocationManager, QuotaError, ReservationError, type EndReason } from './allocation/manager.js';
import { NoRelayPortError } from './allocation/relayPorts.js';
import { noopLogger, type TurnLogger } from './logger.js';
import { resolveOptions, type ResolvedTurnOptions, type TurnServerOptions, type TurnTlsOptions } from './options.js';
import { PeerAddressPolicy } from './policy/peerAddress.js';
import { KeyedRateLimiter } from '../common/tokenBucket.js';
import { StatsCollector, type TurnStats } from './stats.js';
import { normalizeAddress, type TransportAddress } from './stun/address.js';
import {
  Attr,
  AttributeError,
  AttributeType,
  MAGIC_COOKIE,
  TransportProtocol,
  decodeChannelNumber,
  decodeEvenPort,
  decodeRequestedAddressFamily,
  decodeRequestedTransport,
  decodeXorAddress,
  encodeXorAddress,
  isComprehensionRequired,
  type OutgoingAttribute,
} from './stun/attributes.js';
import { MethodName, StunClass, StunDecodeError, StunMethod, decodeMessage, encodeMessage, type StunMessage } from './stun/message.js';
import type { ClientConnection } from './transport/connection.js';
import { StreamListener, type StreamConnection, type StreamHandlers } from './transport/stream.js';
import { UdpListener } from './transport/udp.js';

/** Addresses the relay listens on (after `start()`). */
export interface TurnAddresses {
  /** One entry per UDP listening socket. */
  udp: TransportAddress[];
  /** TCP port (same as the UDP port unless 0 was requested), or undefined when TCP is not listening. */
  tcpPort: number | undefined;
  /** TLS port, or undefined without TLS. */
  tlsPort: number | undefined;
}

/** The relay. */
export interface TurnServer {
  /** Bind every socket and start the expiry sweep. @throws on a bind/listen error (everything opened so far is closed again). */
  start(): Promise<void>;
  /** End every allocation, close every socket, timer and file watcher. Idempotent. */
  stop(): Promise<void>;
  /** Counter snapshot. */
  stats(): TurnStats;
  /** Live allocations (admin view). */
  listAllocations(): AllocationInfo[];
  /** End one allocation now (its relay socket closes). @returns false when no such id. */
  endAllocation(id: string): boolean;
  /** Listening addresses (valid after `start()`). */
  addresses(): TurnAddresses;
  /**
   * Serve a new certificate on every TLS listener without a restart (new handshakes only).
   * @param tls  PEM text or file paths, like the `tls` option.
   * @returns the number of TLS listeners updated (0 when TLS is off).
   * @throws Error when the pair is unusable; the previous one stays in use.
   */
  setTls(tls: TurnTlsOptions): number;
}

/** Comprehension-required attributes this relay understands (RFC 8489 §14, RFC 8656 §18); others get 420. */
const KNOWN_REQUIRED = new Set<number>([
  AttributeType.MAPPED_ADDRESS,
  AttributeType.USERNAME,
  AttributeType.MESSAGE_INTEGRITY,
  AttributeType.ERROR_CODE,
  AttributeType.UNKNOWN_ATTRIBUTES,
  AttributeType.CHANNEL_NUMBER,
  AttributeType.LIFETIME,
  AttributeType.XOR_PEER_ADDRESS,
  AttributeType.DATA,
  AttributeType.REALM,
  AttributeType.NONCE,
  AttributeType.XOR_RELAYED_ADDRESS,
  AttributeType.REQUESTED_ADDRESS_FAMILY,
  AttributeType.EVEN_PORT,
  AttributeType.REQUESTED_TRANSPORT,
  AttributeType.DONT_FRAGMENT,
  AttributeType.MESSAGE_INTEGRITY_SHA256,
  AttributeType.PASSWORD_ALGORITHM,
  AttributeType.USERHASH,
  AttributeType.XOR_MAPPED_ADDRESS,
  AttributeType.RESERVATION_TOKEN,
  AttributeType.PRIORITY,
  AttributeType.USE_CANDIDATE,
  AttributeType.PADDING,
  AttributeType.RESPONSE_PORT,
]);

/** Message type of a Data indication (method 0x007, class indication). */
const DATA_INDICATION_TYPE = 0x0017;

type AuthOk = Extract<AuthResult, { ok: true }>;

function readPem(v: string): string {
  return v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8');
}

/**
 * Create a relay (not started).
 * @throws RangeError/TypeError on invalid options (see {@link resolveOptions}, bad CIDRs).
 */
export function createTurnServer(options: TurnServerOptions): TurnServer {
  return new TurnServerImpl(options);
}

class TurnServerImpl implements TurnServer {
  private readonly o: ResolvedTurnOptions;
  private readonly log: TurnLogger;
  private readonly counters = new StatsCollector();
  private readonly nonces: NonceManager;
  private readonly users: UserStore;
  private readonly limiter: KeyedRateLimiter;
  private readonly manager: AllocationManager;
  private readonly sources: CredentialSources;
  private policy: PeerAddressPolicy;
  private udp: UdpListener[] = [];
  private streams: StreamListener[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Five-tuples with an Allocate in progress → its transaction id (hex). */
  private readonly pendingAllocate = new Map<string, string>();
  private readonly pendingWork = new Set<Promise<void>>();
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  /**
   * Counts 'error' events of relay sockets. Relay sends carry no callback (a callback costs one
   * `process.nextTick` per packet), so a failed send to a peer is not counted; it is a lost datagram.
   */
  private readonly onRelayError = () => {
    this.counters.drop('relay_socket_error');
  };
  /**
   * With an external IP (1:1 NAT) that is not itself a local address: that IP. A peer at
   * externalIp:relayPort is one of our own relayed transport addresses; its packets are delivered to
   * the local relay address instead (cloud NATs often do not hairpin), and packets arriving from a
   * local relay address are seen as coming from the external IP.
   */
  private hairpinIp: string | undefined;
  /** Local IPs the relay sockets bind to (the relay IP, or the UDP listening addresses). */
  private localRelayIps = new Set<string>();

  constructor(options: TurnServerOptions) {
    this.log = options.logger ?? noopLogger;
    this.o = resolveOptions(options, this.log);
    this.nonces = new NonceManager(this.o.nonceLifetime);
    this.users = new UserStore(this.o.usersFile, this.o.realm, this.log, this.o.usersFilePollMs);
    this.limiter = new KeyedRateLimiter(this.o.unauthBurst, this.o.unauthPerSecond);
    const configured = this.o.secrets;
    this.sources = {
      realm: this.o.realm,
      secrets: () => {
        const extra = this.users.secrets;
        return extra.length === 0 ? configured() : [...configured(), ...extra];
      },
      users: this.users,
    };
    this.manager = new AllocationManager(
      this.o.minPort,
      this.o.maxPort,
      this.o.userQuota,
      this.o.totalQuota,
      (a, msg, rinfo) => this.onPeerPacket(a, msg, rinfo),
      (a, reason) => this.onAllocationEnd(a, reason),
      this.onRelayError,
    );
    this.policy = new PeerAddressPolicy(this.o.allowedPeers, []);
  }

  // ---------------------------------------------------------------- lifecycle

  private expandListen(): string[] {
    const out = new Set<string>();
    const ifaces = Object.values(networkInterfaces()).flatMap((l) => l ?? []);
    for (const addr of this.o.listen) {
      if (addr === '0.0.0.0') for (const i of ifaces) if (i.family === 'IPv4') out.add(i.address);
      if (addr === '::') for (const i of ifaces) if (i.family === 'IPv6' && !i.address.toLowerCase().startsWith('fe80')) out.add(i.address);
      if (addr !== '0.0.0.0' && addr !== '::') out.add(addr);
    }
    return [...out];
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`relay cannot start in state ${this.state}`);
    this.state = 'starting';
    try {
      const udpAddrs = this.expandListen();
      for (const addr of udpAddrs) {
        const l = new UdpListener(addr, this.o.port, (listener, msg, rinfo) => this.onUdp(listener, msg, rinfo));
        this.udp.push(l);
        await l.start();
        this.assertStarting();
      }
      const handlers = this.streamHandlers();
      const streamOpts = { maxConnections: this.o.maxConnections, maxBuffered: this.o.streamMaxBuffered, idleTimeoutMs: this.o.streamIdleTimeout * 1000 };
      const tcpPort = this.o.port === 0 ? (this.udp[0]?.local.port ?? 0) : this.o.port;
      for (const addr of this.o.listen) {
        const s = new StreamListener('tcp', addr, tcpPort, handlers, streamOpts);
        this.streams.push(s);
        await s.start();
        this.assertStarting();
      }
      if (this.o.tls) {
        const tls = { cert: readPem(this.o.tls.cert), key: readPem(this.o.tls.key) };
        for (const addr of this.o.listen) {
          const s = new StreamListener('tls', addr, this.o.tlsPort, handlers, { ...streamOpts, tls });
          this.streams.push(s);
          await s.start();
          this.assertStarting();
        }
      }
      const own = new Set<string>([...udpAddrs, ...this.o.listen.filter((a) => a !== '0.0.0.0' && a !== '::')]);
      if (this.o.relayIp) own.add(this.o.relayIp);
      if (this.o.externalIp) own.add(this.o.externalIp);
      const listeningPorts = [...this.udp.map((l) => l.local.port), ...this.streams.map((s) => s.port ?? 0)].filter((p) => p > 0);
      this.policy = new PeerAddressPolicy(this.o.allowedPeers, [...own], { minPort: this.o.minPort, maxPort: this.o.maxPort, listeningPorts });
      this.localRelayIps = new Set(this.o.relayIp ? [normalizeAddress(this.o.relayIp).address] : udpAddrs.map((x) => normalizeAddress(x).address));
      const ext = this.o.externalIp ? normalizeAddress(this.o.externalIp).address : undefined;
      this.hairpinIp = ext !== undefined && !this.localRelayIps.has(ext) && !udpAddrs.includes(ext) ? ext : undefined;
      this.users.start();
      this.sweepTimer = setInterval(() => this.sweep(), this.o.sweepIntervalMs);
      this.sweepTimer.unref();
      this.state = 'running';
      const a = this.addresses();
      this.log.info(
        `relay listening: udp ${a.udp.map((u) => `${u.address}:${u.port}`).join(', ')}; tcp ${a.tcpPort ?? '-'}; tls ${a.tlsPort ?? '-'}; realm ${this.o.realm}; relay ports ${this.o.minPort}-${this.o.maxPort}`,
      );
    } catch (err) {
      await this.closeSockets();
      this.state = 'stopped';
      throw err;
    }
  }


  /** @throws Error when stop() was called while start() was binding sockets. */
  private assertStarting(): void {
    if (this.state !== 'starting') throw new Error('relay stopped while starting');
  }

  private async closeSockets(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.users.stop();
    this.manager.endAll('stopped');
    await Promise.all([...this.udp.map((l) => l.close()), ...this.streams.map((s) => s.close())]);
    this.udp = [];
    this.streams = [];
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    await Promise.allSettled([...this.pendingWork]);
    await this.closeSockets();
    this.state = 'stopped';
    this.log.info('relay stopped');
  }

  addresses(): TurnAddresses {
    const tcp = this.streams.find((s) => s.transport === 'tcp');
    const tls = this.streams.find((s) => s.transport === 'tls');
    return { udp: this.udp.map((l) => ({ ...l.local })), tcpPort: tcp?.port, tlsPort: tls?.port };
  }

  setTls(tls: TurnTlsOptions): number {
    const pem = { cert: readPem(tls.cert), key: readPem(tls.key) };
    const listeners = this.streams.filter((s) => s.transport === 'tls');
    for (const s of listeners) s.setTls(pem);
    return listeners.length;
  }

  stats(): TurnStats {
    const g = this.manager.gauges();
    return this.counters.snapshot({ allocations: this.manager.allocations.size, permissions: g.permissions, channels: g.channels, relayPortsInUse: this.manager.ports.used });
  }

  listAllocations(): AllocationInfo[] {
    return [...this.manager.allocations.values()].map((a) => a.info());
  }

  endAllocation(id: string): boolean {
    const a = this.manager.allocations.get(id);
    if (!a) return false;
    this.manager.end(a, 'admin');
    return true;
  }

  private sweep(): void {
    try {
      const now = Date.now();
      this.manager.sweep(now);
      this.limiter.sweep(now);
    } catch (err) {
      this.internal(err);
    }
  }

  private onAllocationEnd(a: Allocation, reason: EndReason): void {
    this.counters.allocationsEnded++;
    if (reason === 'expired') this.counters.allocationsExpired++;
    else if (reason === 'deleted') this.counters.allocationsDeleted++;
    else if (reason === 'connection_closed') this.counters.allocationsClosedWithConnection++;
    this.log.debug(`allocation ${a.id} (${a.username}, ${a.client.label}, relay ${a.relayed.address}:${a.relayed.port}) ended: ${reason}`);
  }

  private internal(err: unknown): void {
    this.counters.internalErrors++;
    this.log.error(`internal error: ${(err as Error)?.stack ?? String(err)}`);
  }

  // ---------------------------------------------------------------- input

  private onUdp(listener: UdpListener, msg: Buffer, rinfo: RemoteInfo): void {
    try {
      if (msg.length === 0) {
        this.counters.drop('short');
        return;
      }
      const kind = msg[0]! & 0xc0;
      if (kind === 0x40) {
        const a = listener.allocations.get(rinfo.address, rinfo.port);
        if (!a) {
          this.counters.drop('no_allocation');
          return;
        }
        this.clientChannelData(a, msg, msg.length);
        return;
      }
      if (kind !== 0) {
        this.counters.drop('not_stun');
        return;
      }
      this.handleStun(listener.client(rinfo), msg);
    } catch (err) {
      this.internal(err);
    }
  }

  private streamHandlers(): StreamHandlers {
    return {
      onOpen: (conn) => {
        if (conn.transport === 'tls') this.counters.connectionsTls++;
        else this.counters.connectionsTcp++;
      },
      onFrame: (conn, frame) => {
        try {
          if ((frame[0]! & 0xc0) === 0x40) {
            const a = conn.getAllocation();
            if (!a) {
              this.counters.drop('no_allocation');
              return;
            }
            this.clientChannelData(a, frame, frame.length);
            return;
          }
          this.handleStun(conn, frame);
        } catch (err) {
          this.internal(err);
        }
      },
      onClose: (conn) => {
        try {
          const a = conn.getAllocation();
          if (a) this.manager.end(a, 'connection_closed');
        } catch (err) {
          this.internal(err);
        }
      },
      onGarbage: (conn: StreamConnection, err: Error) => {
        this.counters.drop('stream_garbage');
        this.log.debug(`${conn.label}: closing after garbage: ${err.message}`);
      },
      onBackpressureDrop: () => this.counters.drop('stream_backpressure'),
    };
  }

  /** ChannelData from a client (RFC 8656 §12.6): `buf[0..length)` holds header + data (+ padding on streams). */
  private clientChannelData(a: Allocation, buf: Buffer, length: number): void {
    if (length < 4) {
      this.counters.drop('short_channel_data');
      return;
    }
    const dataLength = buf.readUInt16BE(2);
    if (4 + dataLength > length) {
      this.counters.drop('short_channel_data');
      return;
    }
    const binding = a.channels.byNumber.get(buf.readUInt16BE(0));
    if (!binding) {
      this.counters.drop('unknown_channel');
      return;
    }
    if (!a.permissions.has(binding.peer.address)) {
      this.counters.drop('peer_not_permitted');
      return;
    }
    a.counters.packetsToPeer++;
    a.counters.bytesToPeer += dataLength;
    this.counters.c2pPackets++;
    this.counters.c2pChannel++;
    this.counters.c2pBytes += dataLength;
    // The own-address port rule was checked at ChannelBind; sendAddress is the local relay address for a hairpin.
    a.relaySocket.send(buf, 4, dataLength, binding.sendPort, binding.sendAddress);
  }

  /**
   * Where to send data for `peer`, one of our own addresses with a relay port: the local address of
   * the allocation on that port when `peer` is the external IP (no NAT hairpin needed), else `peer`.
   */
  private ownDestination(peer: TransportAddress): string {
    if (this.hairpinIp === undefined || peer.address !== this.hairpinIp) return peer.address;
    const target = this.manager.byRelayPort.get(peer.port);
    if (target) return target.relayed.address;
    return this.o.relayIp ?? this.localRelayIps.values().next().value ?? peer.address;
  }

  /** A datagram from a peer to a relayed address (RFC 8656 §11.3, §12.7): permitted peers only. */
  private onPeerPacket(a: Allocation, msg: Buffer, rinfo: RemoteInfo): void {
    try {
      if (a.closed) return;
      let ip = rinfo.address;
      const port = rinfo.port;
      // From another relayed address of ours (local IP): the client knows it under the external IP.
      if (this.hairpinIp !== undefined && this.localRelayIps.has(ip) && this.policy.ownPortAllowed(port)) ip = this.hairpinIp;
      const perm = a.permissions.get(ip);
      if (perm === undefined) {
        this.counters.drop('peer_not_permitted');
        return;
      }
      if (perm.own && !this.policy.ownPortAllowed(port)) {
        this.counters.drop('own_address_port');
        return;
      }
      const len = msg.length;
      a.counters.packetsFromPeer++;
      a.counters.bytesFromPeer += len;
      this.counters.p2cPackets++;
      this.counters.p2cBytes += len;
      const binding = a.channels.lookup(ip, port);
      const client = a.client;
      if (binding) {
        this.counters.p2cChannel++;
        const pad = client.stream ? (4 - (len & 3)) & 3 : 0;
        const out = Buffer.allocUnsafe(4 + len + pad);
        out.writeUInt16BE(binding.number, 0);
        out.writeUInt16BE(len, 2);
        msg.copy(out, 4);
        if (pad) out.fill(0, 4 + len);
        client.send(out);
        return;
      }
      let attrs = a.peerAttrCache.get(ip);
      let peerAttr = attrs?.get(port);
      if (!peerAttr) {
        const value = encodeXorAddress({ family: isIP(ip) === 6 ? 6 : 4, address: ip, port }, a.dataTransactionId);
        peerAttr = Buffer.allocUnsafe(4 + value.length);
        peerAttr.writeUInt16BE(AttributeType.XOR_PEER_ADDRESS, 0);
        peerAttr.writeUInt16BE(value.length, 2);
        value.copy(peerAttr, 4);
        if (!attrs) {
          if (a.peerAttrCache.size >= 1024) a.peerAttrCache.clear();
          a.peerAttrCache.set(ip, (attrs = new Map()));
        }
        if (attrs.size >= 1024) attrs.clear();
        attrs.set(port, peerAttr);
      }
      const pad = (4 - (len & 3)) & 3;
      const total = 20 + peerAttr.length + 4 + len + pad;
      if (total - 20 > 0xffff) {
        this.counters.drop('peer_datagram_too_large');
        return;
      }
      const out = Buffer.allocUnsafe(total);
      out.writeUInt16BE(DATA_INDICATION_TYPE, 0);
      out.writeUInt16BE(total - 20, 2);
      out.writeUInt32BE(MAGIC_COOKIE, 4);
      a.dataTransactionId.copy(out, 8);
      peerAttr.copy(out, 20);
      const o = 20 + peerAttr.length;
      out.writeUInt16BE(AttributeType.DATA, o);
      out.writeUInt16BE(len, o + 2);
      msg.copy(out, o + 4);
      if (pad) out.fill(0, o + 4 + len);
      client.send(out);
    } catch (err) {
      this.internal(err);
    }
  }

  // ---------------------------------------------------------------- STUN

  private handleStun(conn: ClientConnection, buf: Buffer): void {
    if (this.state !== 'running') {
      this.counters.drop('not_running');
      return;
    }
    let msg: StunMessage;
    try {
      msg = decodeMessage(buf);
    } catch (err) {
      if (err instanceof StunDecodeError) {
        this.counters.drop(err.reason);
        return;
      }
      throw err;
    }
    if (msg.cls === StunClass.Indication) {
      if (msg.method === StunMethod.Send) this.onSendIndication(conn, msg);
      else if (msg.method !== StunMethod.Binding) this.counters.drop('unexpected_indication');
      return;
    }
    if (msg.cls !== StunClass.Request) {
      this.counters.drop('unexpected_response');
      return;
    }
    const name = MethodName[msg.method];
    this.counters.request(name ?? 'unknown');
    try {
      switch (msg.method) {
        case StunMethod.Binding:
          this.onBinding(conn, msg);
          return;
        case StunMethod.Allocate:
        case StunMethod.Refresh:
        case StunMethod.CreatePermission:
        case StunMethod.ChannelBind: {
          const auth = this.authenticate(conn, msg);
          if (!auth) return;
          const unknown = this.unknownRequired(msg);
          if (unknown.length > 0) {
            this.sendError(conn, msg, 420, auth, [Attr.unknownAttributes(unknown)]);
            return;
          }
          // A malformed attribute value (AttributeError) is a 400, signed like every answer to an authenticated request.
          const badAttribute = (err: unknown) => {
            if (!(err instanceof AttributeError)) throw err;
            this.counters.drop('bad_attribute');
            this.sendError(conn, msg, 400, auth, [], err.message);
          };
          try {
            if (msg.method === StunMethod.Allocate) this.track(this.onAllocate(conn, msg, auth).catch(badAttribute));
            else if (msg.method === StunMethod.Refresh) this.onRefresh(conn, msg, auth);
            else if (msg.method === StunMethod.CreatePermission) this.onCreatePermission(conn, msg, auth);
            else this.onChannelBind(conn, msg, auth);
          } catch (err) {
            badAttribute(err);
          }
          return;
        }
        default:
          if (!this.limiter.take(conn.remote.address)) {
            this.counters.drop('rate_limited');
            return;
          }
          this.sendError(conn, msg, 400, undefined, [], 'unknown method');
      }
    } catch (err) {
      if (err instanceof AttributeError) {
        this.sendError(conn, msg, 400, undefined, [], err.message);
        return;
      }
      throw err;
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err) => this.internal(err)).finally(() => this.pendingWork.delete(tracked));
    this.pendingWork.add(tracked);
  }

  private unknownRequired(msg: StunMessage): number[] {
    const out: number[] = [];
    for (const a of msg.attributes) if (isComprehensionRequired(a.type) && !KNOWN_REQUIRED.has(a.type) && !out.includes(a.type)) out.push(a.type);
    return out;
  }

  /** Encode and send a response to `req`; signed (MESSAGE-INTEGRITY with the requester's key) when `auth` is given; always FINGERPRINT. */
  private respond(conn: ClientConnection, req: StunMessage, cls: 2 | 3, attributes: OutgoingAttribute[], auth?: AuthOk): Buffer {
    if (this.o.software) attributes.push(Attr.software(this.o.software));
    const buf = encodeMessage(
      { method: req.method, cls, transactionId: req.transactionId, attributes },
      { integrityKey: auth?.key, integritySha256: auth?.algorithm === 'sha256', fingerprint: true },
    );
    if (cls === StunClass.SuccessResponse) this.counters.successResponses++;
    conn.send(buf);
    return buf;
  }

  private sendError(conn: ClientConnection, req: StunMessage, code: number, auth: AuthOk | undefined, extra: OutgoingAttribute[] = [], reason?: string): void {
    this.counters.errorResponse(code);
    this.respond(conn, req, StunClass.ErrorResponse, [Attr.errorCode(code, reason), ...extra], auth);
  }

  private onBinding(conn: ClientConnection, msg: StunMessage): void {
    if (!this.limiter.take(conn.remote.address)) {
      this.counters.drop('rate_limited');
      return;
    }
    const unknown = this.unknownRequired(msg);
    if (unknown.length > 0) {
      this.sendError(conn, msg, 420, undefined, [Attr.unknownAttributes(unknown)]);
      return;
    }
    this.respond(conn, msg, StunClass.SuccessResponse, [Attr.xorMappedAddress(conn.remote, msg.transactionId)]);
  }

  /** Long-term credential check (RFC 8489 §9.2.4); sends the 400/401/438 itself and returns undefined on failure. */
  private authenticate(conn: ClientConnection, msg: StunMessage): AuthOk | undefined {
    const res = authenticate(msg, this.sources, this.nonces, conn.remote.address);
    if (res.ok) {
      this.counters.authSuccess++;
      return res;
    }
    // The first 401 (no credentials yet) is a normal part of the exchange; count only real failures.
    if (res.reason !== 'no_credentials') this.counters.authFailure(res.reason);
    if (!this.limiter.take(conn.remote.address)) {
      this.counters.drop('rate_limited');
      return undefined;
    }
    if (res.code === 400) {
      this.sendError(conn, msg, 400, undefined, [], 'USERNAME, REALM and NONCE are required with MESSAGE-INTEGRITY');
    } else {
      this.sendError(conn, msg, res.code, undefined, [Attr.realm(this.o.realm), Attr.nonce(this.nonces.issue(conn.remote.address))]);
    }
    return undefined;
  }

  /** Lifetime to grant (RFC 8656 §7.2, §7.3): requested clamped to [default, max]; seconds. */
  private desiredLifetime(requested: number | undefined): number {
    if (requested === undefined) return this.o.defaultLifetime;
    return Math.max(this.o.defaultLifetime, Math.min(requested, this.o.maxLifetime));
  }

  /** Allocate (RFC 8656 §7.2). */
  private async onAllocate(conn: ClientConnection, msg: StunMessage, auth: AuthOk): Promise<void> {
    const tid = msg.transactionId.toString('hex');
    const existing = conn.getAllocation();
    if (existing) {
      if (existing.allocateTransactionId === tid && existing.allocateResponse && existing.username === auth.username) {
        conn.send(existing.allocateResponse);
        this.counters.drop('allocate_retransmit');
        return;
      }
      this.sendError(conn, msg, 437, auth);
      return;
    }
    const key = conn.label;
    const pending = this.pendingAllocate.get(key);
    if (pending !== undefined) {
      if (pending === tid) this.counters.drop('allocate_retransmit');
      else this.sendError(conn, msg, 437, auth);
      return;
    }
    const rt = msg.get(AttributeType.REQUESTED_TRANSPORT);
    if (!rt) return this.sendError(conn, msg, 400, auth, [], 'REQUESTED-TRANSPORT missing');
    if (decodeRequestedTransport(rt) !== TransportProtocol.UDP) return this.sendError(conn, msg, 442, auth);
    const evenPort = msg.get(AttributeType.EVEN_PORT);
    const token = msg.get(AttributeType.RESERVATION_TOKEN);
    if (token && evenPort) return this.sendError(conn, msg, 400, auth, [], 'EVEN-PORT with RESERVATION-TOKEN');
    if (token && token.length !== 8) return this.sendError(conn, msg, 400, auth, [], 'RESERVATION-TOKEN must be 8 bytes');
    const portRequest = token
      ? ({ kind: 'token', token: token.toString('hex') } as const)
      : evenPort
        ? ({ kind: 'even', reserve: decodeEvenPort(evenPort) } as const)
        : ({ kind: 'any' } as const);
    const relayIp = this.o.relayIp ?? conn.local.address;
    const family = normalizeAddress(relayIp).family;
    const rafValue = msg.get(AttributeType.REQUESTED_ADDRESS_FAMILY);
    if (rafValue && decodeRequestedAddressFamily(rafValue) !== family) return this.sendError(conn, msg, 440, auth);
    const lifetime = this.desiredLifetime(msg.getUint32(AttributeType.LIFETIME));
    this.pendingAllocate.set(key, tid);
    let allocation: Allocation;
    try {
      allocation = await this.manager.create({
        client: conn,
        username: auth.username,
        key: auth.key,
        transactionIdHex: tid,
        relayIp,
        family,
        advertisedIp: this.o.externalIp ?? relayIp,
        lifetimeMs: lifetime * 1000,
        port: portRequest,
      });
    } catch (err) {
      if (err instanceof QuotaError) {
        this.counters.drop(err.code === 486 ? 'user_quota' : 'total_quota');
        return this.sendError(conn, msg, err.code, auth);
      }
      if (err instanceof ReservationError) {
        this.counters.drop('bad_reservation_token');
        return this.sendError(conn, msg, 508, auth, [], err.message);
      }
      if (err instanceof NoRelayPortError) {
        this.counters.drop('no_relay_port');
        return this.sendError(conn, msg, 508, auth);
      }
      this.log.error(`allocate for ${conn.label}: ${(err as Error).message}`);
      return this.sendError(conn, msg, 500, auth);
    } finally {
      this.pendingAllocate.delete(key);
    }
    if (!conn.open || this.state !== 'running') {
      this.manager.end(allocation, 'connection_closed');
      return;
    }
    conn.setAllocation(allocation);
    this.counters.allocationsCreated++;
    const attrs = [Attr.xorRelayedAddress(allocation.advertised, msg.transactionId), Attr.lifetime(lifetime), Attr.xorMappedAddress(conn.remote, msg.transactionId)];
    if (allocation.reservationToken) attrs.push(Attr.raw(AttributeType.RESERVATION_TOKEN, allocation.reservationToken));
    allocation.allocateResponse = this.respond(conn, msg, StunClass.SuccessResponse, attrs, auth);
    this.log.debug(`allocation ${allocation.id} for ${auth.username} on ${conn.label}: relay ${allocation.relayed.address}:${allocation.relayed.port}, ${lifetime} s`);
  }

  /** The caller's allocation, or undefined after answering 437 (none) / 441 (other username). */
  private ownedAllocation(conn: ClientConnection, msg: StunMessage, auth: AuthOk): Allocation | undefined {
    const a = conn.getAllocation();
    if (!a) {
      this.sendError(conn, msg, 437, auth);
      return undefined;
    }
    if (a.username !== auth.username) {
      this.counters.authFailure('wrong_credentials');
      this.sendError(conn, msg, 441, auth);
      return undefined;
    }
    return a;
  }

  /** Refresh (RFC 8656 §7.3): LIFETIME 0 deletes at once. */
  private onRefresh(conn: ClientConnection, msg: StunMessage, auth: AuthOk): void {
    const a = this.ownedAllocation(conn, msg, auth);
    if (!a) return;
    const raf = msg.get(AttributeType.REQUESTED_ADDRESS_FAMILY);
    if (raf && decodeRequestedAddressFamily(raf) !== a.relayed.family) return this.sendError(conn, msg, 443, auth);
    const requested = msg.getUint32(AttributeType.LIFETIME);
    if (requested === 0) {
      this.manager.end(a, 'deleted');
      this.respond(conn, msg, StunClass.SuccessResponse, [Attr.lifetime(0)], auth);
      return;
    }
    const lifetime = this.desiredLifetime(requested);
    a.expiresAt = Date.now() + lifetime * 1000;
    this.respond(conn, msg, StunClass.SuccessResponse, [Attr.lifetime(lifetime)], auth);
  }

  /**
   * Decode and vet XOR-PEER-ADDRESS values; answers 400/443/403 itself and returns undefined on failure.
   * `withPort`: also apply the own-address port rule (ChannelBind names a transport address; a
   * permission, RFC 8656 §9, is by IP only). Each result carries `own` (one of the relay's addresses).
   */
  private peerAddresses(conn: ClientConnection, msg: StunMessage, auth: AuthOk, a: Allocation, withPort: boolean): Array<TransportAddress & { own: boolean }> | undefined {
    const values = msg.getAll(AttributeType.XOR_PEER_ADDRESS);
    if (values.length === 0) {
      this.sendError(conn, msg, 400, auth, [], 'XOR-PEER-ADDRESS missing');
      return undefined;
    }
    const peers: Array<TransportAddress & { own: boolean }> = [];
    for (const v of values) {
      const p = decodeXorAddressChecked(v, msg.transactionId);
      if (!p) {
        this.sendError(conn, msg, 400, auth, [], 'bad XOR-PEER-ADDRESS');
        return undefined;
      }
      if (p.family !== a.relayed.family) {
        this.sendError(conn, msg, 443, auth);
        return undefined;
      }
      if (withPort && p.port === 0) {
        // Node refuses to send to port 0; a channel to it could never carry data.
        this.sendError(conn, msg, 400, auth, [], 'XOR-PEER-ADDRESS port 0');
        return undefined;
      }
      const decision = withPort ? this.policy.checkTransport(p.address, p.port) : this.policy.check(p.address);
      if (!decision.allowed) {
        this.counters.drop(`peer_refused_${decision.reason}`);
        this.log.debug(`${conn.label}: peer ${p.address}${withPort ? `:${p.port}` : ''} refused (${decision.reason})`);
        this.sendError(conn, msg, 403, auth, [], `peer address not allowed (${decision.reason})`);
        return undefined;
      }
      peers.push({ ...p, own: decision.own === true });
    }
    return peers;
  }

  /** CreatePermission (RFC 8656 §9.2): all peers or none. */
  private onCreatePermission(conn: ClientConnection, msg: StunMessage, auth: AuthOk): void {
    const a = this.ownedAllocation(conn, msg, auth);
    if (!a) return;
    const peers = this.peerAddresses(conn, msg, auth, a, false);
    if (!peers) return;
    const exp = Date.now() + this.o.permissionLifetime * 1000;
    for (const p of peers) a.permissions.install(p.address, exp, p.own);
    this.respond(conn, msg, StunClass.SuccessResponse, [], auth);
  }

  /** ChannelBind (RFC 8656 §11.2): also installs/refreshes the permission. */
  private onChannelBind(conn: ClientConnection, msg: StunMessage, auth: AuthOk): void {
    const a = this.ownedAllocation(conn, msg, auth);
    if (!a) return;
    const cn = msg.get(AttributeType.CHANNEL_NUMBER);
    if (!cn) return this.sendError(conn, msg, 400, auth, [], 'CHANNEL-NUMBER missing');
    const channel = decodeChannelNumber(cn);
    const legacy = this.o.channelRange === 'rfc5766';
    if (!isValidChannel(channel, legacy)) return this.sendError(conn, msg, 400, auth, [], `channel number must be 0x4000-0x${legacy ? '7FFF' : '4FFF'}, got 0x${channel.toString(16)}`);
    if (msg.getAll(AttributeType.XOR_PEER_ADDRESS).length !== 1) return this.sendError(conn, msg, 400, auth, [], 'exactly one XOR-PEER-ADDRESS required');
    const peers = this.peerAddresses(conn, msg, auth, a, true);
    if (!peers) return;
    const { own, ...peer } = peers[0]!;
    const now = Date.now();
    const send = own ? { address: this.ownDestination(peer), port: peer.port } : undefined;
    const result = a.channels.bind(channel, peer, now + this.o.channelLifetime * 1000, send, now);
    if (result === 'number_in_use') return this.sendError(conn, msg, 400, auth, [], 'channel bound to another peer');
    if (result === 'peer_in_use') return this.sendError(conn, msg, 400, auth, [], 'peer bound to another channel');
    // The permission lasts at least as long as RFC 8656 §11.2 requires (permission lifetime, refreshed).
    a.permissions.install(peer.address, now + this.o.permissionLifetime * 1000, own);
    a.peerAttrCache.get(peer.address)?.delete(peer.port);
    this.respond(conn, msg, StunClass.SuccessResponse, [], auth);
  }

  /** Send indication (RFC 8656 §10.2): relayed when permitted, silently dropped (and counted) otherwise. */
  private onSendIndication(conn: ClientConnection, msg: StunMessage): void {
    const a = conn.getAllocation();
    if (!a) {
      this.counters.drop('no_allocation');
      return;
    }
    if (this.unknownRequired(msg).length > 0) {
      this.counters.drop('unknown_attribute');
      return;
    }
    const pv = msg.get(AttributeType.XOR_PEER_ADDRESS);
    const data = msg.get(AttributeType.DATA);
    if (!pv || !data) {
      this.counters.drop('missing_attribute');
      return;
    }
    const peer = decodeXorAddressChecked(pv, msg.transactionId);
    if (!peer || peer.port === 0) {
      this.counters.drop('bad_attribute');
      return;
    }
    const perm = a.permissions.get(peer.address);
    if (!perm) {
      this.counters.drop('peer_not_permitted');
      return;
    }
    let dest = peer.address;
    if (perm.own) {
      // One of our own addresses: only another relayed transport address (RFC 8656 §21.3 spirit).
      if (!this.policy.ownPortAllowed(peer.port)) {
        this.counters.drop('own_address_port');
        return;
      }
      dest = this.ownDestination(peer);
    }
    a.counters.packetsToPeer++;
    a.counters.bytesToPeer += data.length;
    this.counters.c2pPackets++;
    this.counters.c2pBytes += data.length;
    a.relaySocket.send(data, peer.port, dest);
  }
}

function decodeXorAddressChecked(value: Buffer, tid: Buffer): TransportAddress | undefined {
  try {
    return decodeXorAddress(value, tid);
  } catch {
    return undefined;
  }
}
