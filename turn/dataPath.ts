/**
 * The relay's data path: everything that happens per relayed packet.
 *
 * - client → peer: ChannelData (RFC 8656 §12.6) and the payload of Send indications (§10.2), sent
 *   from the allocation's relay socket when a permission for the peer's IP exists;
 * - peer → client (§11.3, §12.7): a datagram on a relay socket from a permitted peer goes to the
 *   client as ChannelData when a channel is bound to that peer, else as a Data indication;
 * - the own-address and hairpin rules (see turn/README.md): data to or from one of the relay's own
 *   addresses only on a relay port; with an external IP that is not local, a peer at
 *   `externalIp:relayPort` is reached at the local address of that port, and datagrams from a local
 *   relay address are seen as coming from the external IP.
 *
 * The control plane (request handlers, `AllocationManager`) talks to it only through
 * {@link DataPath}: it reports allocations created/ended, permissions installed/expired and
 * channels bound/expired, and hands over client input; the data path reports counters and drops by
 * reason. A native implementation can sit behind the same interface.
 *
 * Hot-path rules of {@link JsDataPath} (measured, see turn/README.md): no per-packet string
 * building (peers are looked up by IP string, then by port number); sends carry no callback (a
 * callback costs one `process.nextTick` per packet, so a failed send is a lost datagram and only
 * relay-socket 'error' events are counted, as `relay_socket_error`); no clock reads (expiry is the
 * periodic sweep's job); ChannelData from a client is sent as a view into the received buffer.
 */
import { randomBytes } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import type { Allocation } from './allocation/allocation.js';
import type { ChannelBinding } from './allocation/channels.js';
import type { AllocationObserver } from './allocation/manager.js';
import type { Permission } from './allocation/permissions.js';
import { bump } from './counters.js';
import type { PeerAddressPolicy } from './policy/peerAddress.js';
import type { TransportAddress } from './stun/address.js';
import { encodeDataIndication, encodeXorPeerAddressAttribute } from './stun/dataIndication.js';

/** Packet and byte counters of one direction. */
export interface DirectionCounters {
  packets: number;
  bytes: number;
  /** Packets carried as ChannelData (the rest as Send/Data indications). */
  viaChannel: number;
}

/** What the data path reports. */
export interface DataPathCounters {
  clientToPeer: DirectionCounters;
  peerToClient: DirectionCounters;
  /** Dropped packets by reason (`peer_not_permitted`, `own_address_port`, `unknown_channel`, ...). */
  dropped: Record<string, number>;
}

/** Address rules known once the listeners are bound. */
export interface DataPathConfig {
  /** Decides whether a port of one of our own addresses is a relay port (`ownPortAllowed`). */
  policy: PeerAddressPolicy;
  /** The external IP when it is not a local address (1:1 NAT without hairpin), else undefined. */
  hairpinIp: string | undefined;
  /** Local IPs the relay sockets are bound to. */
  localRelayIps: ReadonlySet<string>;
  /** The configured relay IP, if any. */
  relayIp: string | undefined;
}

/** The data path as the rest of the relay sees it. */
export interface DataPath extends AllocationObserver {
  /** Apply the address rules (called by `start()`, before any allocation exists). */
  configure(config: DataPathConfig): void;
  /**
   * ChannelData from the client of `allocation` (RFC 8656 §12.6): `buf` holds header + data (+
   * padding on streams); it is only valid during the call.
   */
  clientChannelData(allocation: Allocation, buf: Buffer): void;
  /** The DATA of a Send indication to `peer` (RFC 8656 §10.2), already decoded and checked. */
  sendIndication(allocation: Allocation, peer: TransportAddress, data: Buffer): void;
  /** Periodic housekeeping (bounded caches); called by the expiry sweep. */
  sweep(nowMs: number): void;
  /** Counter snapshot. */
  counters(): DataPathCounters;
}

/** Most cached XOR-PEER-ADDRESS attributes per allocation (per peer IP, and peer IPs); trimmed in the sweep. */
const PEER_ATTR_CACHE_MAX = 1024;
const PEER_ATTR_CACHE_SWEEP = 256;

/** Per-allocation state of the JavaScript data path. */
interface AllocationState {
  /** Transaction id of this allocation's Data indications (RFC 8656 §10.3 allows any). */
  readonly dataTransactionId: Buffer;
  /** Encoded XOR-PEER-ADDRESS attributes for Data indications: peer IP → port → attribute. */
  readonly peerAttrs: Map<string, Map<number, Buffer>>;
}

/** The data path in JavaScript, on Node's dgram sockets. */
export class JsDataPath implements DataPath {
  private c2pPackets = 0;
  private c2pBytes = 0;
  private c2pChannel = 0;
  private p2cPackets = 0;
  private p2cBytes = 0;
  private p2cChannel = 0;
  private readonly dropped = new Map<string, number>();
  private readonly states = new Map<Allocation, AllocationState>();
  /** Live allocations by relay port (ports are unique across relay IPs), for the hairpin rule. */
  private readonly byRelayPort = new Map<number, Allocation>();
  private policy: PeerAddressPolicy | undefined;
  private hairpinIp: string | undefined;
  private localRelayIps: ReadonlySet<string> = new Set();
  private relayIp: string | undefined;

  /**
   * @param onInternalError  an exception inside a socket handler (counted as `internalErrors`; must not throw).
   */
  constructor(private readonly onInternalError: (err: unknown) => void) {}

  private readonly onRelayError = () => {
    bump(this.dropped, 'relay_socket_error');
  };

  configure(config: DataPathConfig): void {
    this.policy = config.policy;
    this.hairpinIp = config.hairpinIp;
    this.localRelayIps = config.localRelayIps;
    this.relayIp = config.relayIp;
  }

  // ------------------------------------------------------------ control plane → data path

  allocationCreated(a: Allocation): void {
    const state: AllocationState = { dataTransactionId: randomBytes(12), peerAttrs: new Map() };
    this.states.set(a, state);
    this.byRelayPort.set(a.relayed.port, a);
    a.relaySocket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.fromPeer(a, state, msg, rinfo));
    // Errors on a relay socket (e.g. ICMP-induced ECONNREFUSED on some systems) affect no one else.
    a.relaySocket.on('error', this.onRelayError);
  }

  allocationEnded(a: Allocation): void {
    a.relaySocket.removeAllListeners('message');
    this.states.delete(a);
    if (this.byRelayPort.get(a.relayed.port) === a) this.byRelayPort.delete(a.relayed.port);
  }

  /** Nothing to do: permissions are read from the allocation's table, which the sweep keeps current. */
  permissionInstalled(_a: Allocation, _ip: string, _permission: Permission): void {}

  permissionExpired(_a: Allocation, _ip: string): void {}

  /** Point a channel to one of our own relayed addresses at its local address (hairpin rule); drop the peer's cached Data-indication attribute. */
  channelBound(a: Allocation, binding: ChannelBinding, own: boolean): void {
    if (own) binding.sendAddress = this.ownDestination(binding.peer);
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

  private drop(reason: string): void {
    bump(this.dropped, reason);
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
    a.counters.packetsToPeer++;
    a.counters.bytesToPeer += dataLength;
    this.c2pPackets++;
    this.c2pChannel++;
    this.c2pBytes += dataLength;
    // The own-address port rule was checked at ChannelBind; sendAddress is the local relay address for a hairpin.
    a.relaySocket.send(buf, 4, dataLength, binding.sendPort, binding.sendAddress);
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
      dest = this.ownDestination(peer);
    }
    a.counters.packetsToPeer++;
    a.counters.bytesToPeer += data.length;
    this.c2pPackets++;
    this.c2pBytes += data.length;
    a.relaySocket.send(data, peer.port, dest);
  }

  /**
   * Where to send data for `peer`, one of our own addresses with a relay port: the local address of
   * the allocation on that port when `peer` is the external IP (no NAT hairpin needed), else `peer`.
   */
  private ownDestination(peer: TransportAddress): string {
    if (this.hairpinIp === undefined || peer.address !== this.hairpinIp) return peer.address;
    const target = this.byRelayPort.get(peer.port);
    if (target) return target.relayed.address;
    return this.relayIp ?? this.localRelayIps.values().next().value ?? peer.address;
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
      this.onInternalError(err);
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
