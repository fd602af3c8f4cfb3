/**
 * The data path in JavaScript, on Node's dgram sockets (see `dataPath.ts` for what a data path
 * does). Used when the native addon is not built, or with `dataPath: 'js'`.
 *
 * Hot-path rules (measured, see turn/README.md): no per-packet string building (peers are looked
 * up by IP string, then by port number); sends carry no callback (a callback costs one
 * `process.nextTick` per packet, so a failed send is a lost datagram and only relay-socket 'error'
 * events are counted, as `relay_socket_error`); no clock reads (expiry is the periodic sweep's
 * job; only an allocation with a bandwidth limit reads the clock per packet); ChannelData from a
 * client is sent as a view into the received buffer.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AllocationCounters } from '../contracts/relay.js';
import { TokenBucket } from '../common/tokenBucket.js';
import type { Allocation } from './allocation/allocation.js';
import type { ChannelBinding } from './allocation/channels.js';
import type { Permission } from './allocation/permissions.js';
import { bump } from './counters.js';
import type { DataPath, DataPathConfig, DataPathCounters, DataPathDeps, DataPathInfo, RelaySocket } from './dataPath.js';
import { HairpinTargets } from './ownAddresses.js';
import type { PeerAddressPolicy } from './policy/peerAddress.js';
import type { TransportAddress } from './stun/address.js';
import { encodeDataIndication, encodeXorPeerAddressAttribute } from './stun/dataIndication.js';
import { literalLookup } from './transport/lookup.js';
import { UdpListener } from './transport/udp.js';

/** Receive/send buffer requested for relay sockets, bytes (the kernel caps it at net.core.rmem_max/wmem_max). */
export const RELAY_SOCKET_BUFFER_BYTES = 1024 * 1024;

/** Most cached XOR-PEER-ADDRESS attributes per allocation (per peer IP, and peer IPs); trimmed in the sweep. */
const PEER_ATTR_CACHE_MAX = 1024;
const PEER_ATTR_CACHE_SWEEP = 256;

/** A relay socket of the JavaScript path: a Node dgram socket. */
export class JsRelaySocket implements RelaySocket {
  constructor(
    readonly socket: Socket,
    readonly port: number,
  ) {}

  close(): void {
    try {
      this.socket.close();
    } catch {
      /* already closed */
    }
  }
}

/**
 * Bind a Node dgram socket exclusively on `address`:`port` with large buffers (so a short
 * event-loop stall does not drop a burst of media).
 * @returns the socket, or undefined on EADDRINUSE/EACCES. @throws other bind errors.
 */
export async function bindUdpRelaySocket(address: string, family: 4 | 6, port: number): Promise<JsRelaySocket | undefined> {
  const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: literalLookup as never, ipv6Only: family === 6 });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    try {
      socket.close();
    } catch {
      /* already closed */
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') return undefined;
    throw err;
  }
  try {
    socket.setRecvBufferSize(RELAY_SOCKET_BUFFER_BYTES);
    socket.setSendBufferSize(RELAY_SOCKET_BUFFER_BYTES);
  } catch {
    /* best effort */
  }
  return new JsRelaySocket(socket, port);
}

/** Per-allocation state of the JavaScript data path. */
interface AllocationState {
  /** Transaction id of this allocation's Data indications (RFC 8656 §10.3 allows any). */
  readonly dataTransactionId: Buffer;
  /** Encoded XOR-PEER-ADDRESS attributes for Data indications: peer IP → port → attribute. */
  readonly peerAttrs: Map<string, Map<number, Buffer>>;
  /** Bandwidth limits (bytes of payload) client → peer and peer → client, when `maxBps` is set. */
  readonly up: TokenBucket | undefined;
  readonly down: TokenBucket | undefined;
}

function socketOf(a: Allocation): Socket {
  return (a.relaySocket as JsRelaySocket).socket;
}

/** The data path in JavaScript, on Node's dgram sockets. */
export class JsDataPath implements DataPath {
  readonly info: DataPathInfo;
  private c2pPackets = 0;
  private c2pBytes = 0;
  private c2pChannel = 0;
  private p2cPackets = 0;
  private p2cBytes = 0;
  private p2cChannel = 0;
  private readonly dropped = new Map<string, number>();
  private readonly states = new Map<Allocation, AllocationState>();
  private readonly listeners: UdpListener[] = [];
  private readonly hairpin = new HairpinTargets();
  private readonly maxBps: number;
  private policy: PeerAddressPolicy | undefined;
  private hairpinIp: string | undefined;
  private localRelayIps: ReadonlySet<string> = new Set();

  /** @param fallbackReason  why this path runs although native was asked for (`auto`), for stats. */
  constructor(
    private readonly deps: DataPathDeps,
    fallbackReason?: string,
  ) {
    this.maxBps = deps.maxBps;
    this.info = fallbackReason === undefined ? { kind: 'js', threads: 1 } : { kind: 'js', threads: 1, fallbackReason };
  }

  private readonly onRelayError = () => {
    bump(this.dropped, 'relay_socket_error');
  };

  async listenUdp(address: string, port: number): Promise<TransportAddress> {
    const l = new UdpListener(address, port, (listener, msg, rinfo) => this.onListener(listener, msg, rinfo));
    this.listeners.push(l);
    await l.start();
    return { ...l.local };
  }

  configure(config: DataPathConfig): void {
    this.policy = config.policy;
    this.hairpinIp = config.hairpinIp;
    this.localRelayIps = config.localRelayIps;
    this.hairpin.configure(config);
  }

  bindRelaySocket(address: string, family: 4 | 6, port: number): Promise<RelaySocket | undefined> {
    return bindUdpRelaySocket(address, family, port);
  }

  async close(): Promise<void> {
    await Promise.all(this.listeners.splice(0).map((l) => l.close()));
  }

  // ------------------------------------------------------------ control plane → data path

  allocationCreated(a: Allocation): void {
    const limited = this.maxBps > 0;
    const state: AllocationState = {
      dataTransactionId: randomBytes(12),
      peerAttrs: new Map(),
      // One second of traffic, like coturn's one-second window.
      up: limited ? new TokenBucket(this.maxBps, this.maxBps) : undefined,
      down: limited ? new TokenBucket(this.maxBps, this.maxBps) : undefined,
    };
    const socket = socketOf(a);
    this.states.set(a, state);
    this.hairpin.add(a.relayed.port, a.relayed.address);
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.fromPeer(a, state, msg, rinfo));
    // Errors on a relay socket (e.g. ICMP-induced ECONNREFUSED on some systems) affect no one else.
    socket.on('error', this.onRelayError);
  }

  allocationEnded(a: Allocation): void {
    socketOf(a).removeAllListeners('message');
    this.states.delete(a);
    this.hairpin.remove(a.relayed.port, a.relayed.address);
  }

  /** Nothing to do: permissions are read from the allocation's table, which the sweep keeps current. */
  permissionInstalled(_a: Allocation, _ip: string, _permission: Permission): void {}

  permissionExpired(_a: Allocation, _ip: string): void {}

  /** Point a channel to one of our own relayed addresses at its local address (hairpin rule); drop the peer's cached Data-indication attribute. */
  channelBound(a: Allocation, binding: ChannelBinding, own: boolean): void {
    if (own) binding.sendAddress = this.hairpin.destination(binding.peer);
    this.states.get(a)?.peerAttrs.get(binding.peer.address)?.delete(binding.peer.port);
  }

  channelExpired(_a: Allocation, _binding: ChannelBinding): void {}

  sweep(_nowMs: number): void {
    for (const { peerAttrs } of this.states.values()) {
      if (peerAttrs.size > PEER_ATTR_CACHE_SWEEP) peerAttrs.clear();
      for (const [ip, ports] of peerAttrs) if (ports.size > PEER_ATTR_CACHE_SWEEP) peerAttrs.delete(ip);
    }
  }

  counters(): DataPathCounters {
    return {
      clientToPeer: { packets: this.c2pPackets, bytes: this.c2pBytes, viaChannel: this.c2pChannel },
      peerToClient: { packets: this.p2cPackets, bytes: this.p2cBytes, viaChannel: this.p2cChannel },
      dropped: Object.fromEntries(this.dropped),
    };
  }

  allocationCounters(a: Allocation): AllocationCounters {
    return { ...a.counters };
  }

  private drop(reason: string): void {
    bump(this.dropped, reason);
  }

  // ------------------------------------------------------------ UDP listeners

  /** A datagram on a UDP listening socket: ChannelData (first bits 01) or STUN (00); anything else is dropped. */
  private onListener(listener: UdpListener, msg: Buffer, rinfo: RemoteInfo): void {
    try {
      if (msg.length === 0) {
        this.drop('short');
        return;
      }
      const kind = msg[0]! & 0xc0;
      if (kind === 0x40) {
        const a = listener.allocations.get(rinfo.address, rinfo.port);
        if (!a) {
          this.drop('no_allocation');
          return;
        }
        this.clientChannelData(a, msg);
        return;
      }
      if (kind !== 0) {
        this.drop('not_stun');
        return;
      }
      this.deps.onStun(listener.client(rinfo), msg);
    } catch (err) {
      this.deps.onInternalError(err);
    }
  }

  // ------------------------------------------------------------ client → peer

  clientChannelData(a: Allocation, buf: Buffer): void {
    const length = buf.length;
    if (length < 4) {
      this.drop('short_channel_data');
      return;
    }
    const dataLength = buf.readUInt16BE(2);
    if (4 + dataLength > length) {
      this.drop('short_channel_data');
      return;
    }
    const binding = a.channels.byNumber.get(buf.readUInt16BE(0));
    if (!binding) {
      this.drop('unknown_channel');
      return;
    }
    if (!a.permissions.has(binding.peer.address)) {
      this.drop('peer_not_permitted');
      return;
    }
    if (this.maxBps > 0 && !this.states.get(a)!.up!.take(Date.now(), dataLength)) {
      this.drop('over_bandwidth');
      return;
    }
    a.counters.packetsToPeer++;
    a.counters.bytesToPeer += dataLength;
    this.c2pPackets++;
    this.c2pChannel++;
    this.c2pBytes += dataLength;
    // The own-address port rule was checked at ChannelBind; sendAddress is the local relay address for a hairpin.
    socketOf(a).send(buf, 4, dataLength, binding.sendPort, binding.sendAddress);
  }

  sendIndication(a: Allocation, peer: TransportAddress, data: Buffer): void {
    const perm = a.permissions.get(peer.address);
    if (!perm) {
      this.drop('peer_not_permitted');
      return;
    }
    let dest = peer.address;
    if (perm.own) {
      // One of our own addresses: only another relayed transport address (RFC 8656 §21.3 spirit).
      if (!this.policy!.ownPortAllowed(peer.port)) {
        this.drop('own_address_port');
        return;
      }
      dest = this.hairpin.destination(peer);
    }
    if (this.maxBps > 0 && !this.states.get(a)!.up!.take(Date.now(), data.length)) {
      this.drop('over_bandwidth');
      return;
    }
    a.counters.packetsToPeer++;
    a.counters.bytesToPeer += data.length;
    this.c2pPackets++;
    this.c2pBytes += data.length;
    socketOf(a).send(data, peer.port, dest);
  }

  // ------------------------------------------------------------ peer → client

  /** A datagram from a peer to a relayed address (RFC 8656 §11.3, §12.7): permitted peers only. */
  private fromPeer(a: Allocation, state: AllocationState, msg: Buffer, rinfo: RemoteInfo): void {
    try {
      if (a.closed) return;
      let ip = rinfo.address;
      const port = rinfo.port;
      // From another relayed address of ours (local IP): the client knows it under the external IP.
      if (this.hairpinIp !== undefined && this.localRelayIps.has(ip) && this.policy!.ownPortAllowed(port)) ip = this.hairpinIp;
      const perm = a.permissions.get(ip);
      if (perm === undefined) {
        this.drop('peer_not_permitted');
        return;
      }
      if (perm.own && !this.policy!.ownPortAllowed(port)) {
        this.drop('own_address_port');
        return;
      }
      const len = msg.length;
      if (state.down !== undefined && !state.down.take(Date.now(), len)) {
        this.drop('over_bandwidth');
        return;
      }
      a.counters.packetsFromPeer++;
      a.counters.bytesFromPeer += len;
      this.p2cPackets++;
      this.p2cBytes += len;
      const binding = a.channels.lookup(ip, port);
      const client = a.client;
      if (binding) {
        this.p2cChannel++;
        const pad = client.stream ? (4 - (len & 3)) & 3 : 0;
        const out = Buffer.allocUnsafe(4 + len + pad);
        out.writeUInt16BE(binding.number, 0);
        out.writeUInt16BE(len, 2);
        msg.copy(out, 4);
        if (pad) out.fill(0, 4 + len);
        client.send(out);
        return;
      }
      const out = encodeDataIndication(state.dataTransactionId, this.peerAttribute(state, ip, port), msg);
      if (!out) {
        this.drop('peer_datagram_too_large');
        return;
      }
      client.send(out);
    } catch (err) {
      this.deps.onInternalError(err);
    }
  }

  /** The cached XOR-PEER-ADDRESS attribute for peer `ip`:`port` (encoded on first use). */
  private peerAttribute(state: AllocationState, ip: string, port: number): Buffer {
    let ports = state.peerAttrs.get(ip);
    let attr = ports?.get(port);
    if (attr) return attr;
    attr = encodeXorPeerAddressAttribute({ family: ip.includes(':') ? 6 : 4, address: ip, port }, state.dataTransactionId);
    if (!ports) {
      if (state.peerAttrs.size >= PEER_ATTR_CACHE_MAX) state.peerAttrs.clear();
      state.peerAttrs.set(ip, (ports = new Map()));
    }
    if (ports.size >= PEER_ATTR_CACHE_MAX) ports.clear();
    ports.set(port, attr);
    return attr;
  }
}
