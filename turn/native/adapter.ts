/**
 * The {@link DataPath} backed by the native addon (`nativeDataPath.ts`; threads and tables in
 * turn/native/README.md). The addon owns every UDP socket of the relay: the listening sockets (one
 * SO_REUSEPORT socket per worker thread and address) and every relay socket. JavaScript keeps the
 * control plane and pushes each change down, as the call table of the README says:
 *
 * - UDP clients: ChannelData and Send indications are relayed by the worker thread that received
 *   them; STUN requests come up through the hand-off (`onStun`), the answers go out through the
 *   addon (`send`); an allocation lives on the worker that received its Allocate, so both
 *   directions of one allocation stay on one thread, in order.
 * - TCP/TLS clients keep their JavaScript stream connections; their relay sockets are native too
 *   (one owner for the whole port range and one implementation of the rules): client data goes
 *   down with `relayFromClient`/`sendToPeer`, peer data comes up framed (`toClient`) and is written
 *   to the connection.
 *
 * Counters and drop reasons are the addon's, under the JavaScript path's names.
 */
import { randomBytes } from 'node:crypto';
import type { AllocationCounters } from '../../contracts/relay.js';
import type { Allocation } from '../allocation/allocation.js';
import type { ChannelBinding } from '../allocation/channels.js';
import type { Permission } from '../allocation/permissions.js';
import { bump } from '../counters.js';
import type { DataPath, DataPathConfig, DataPathCounters, DataPathDeps, DataPathInfo, RelaySocket } from '../dataPath.js';
import { KNOWN_REQUIRED } from '../handlers/context.js';
import { HairpinTargets } from '../ownAddresses.js';
import { normalizeAddress, type TransportAddress } from '../stun/address.js';
import { AddressMap } from '../transport/addressMap.js';
import type { ClientConnection } from '../transport/connection.js';
import { createNativeDataPath, NativeDataPath, type NativePacket } from './nativeDataPath.js';

/** A relay socket bound by the addon; after `createAllocation` the allocation owns (and closes) it. */
class NativeRelaySocket implements RelaySocket {
  owned = false;
  closed = false;

  constructor(
    private readonly dp: NativeDataPath,
    readonly id: number,
    readonly port: number,
  ) {}

  close(): void {
    // The id is the socket's fd: once given away or closed it may name a newer socket.
    if (this.owned || this.closed) return;
    this.closed = true;
    this.dp.closeRelay(this.id);
  }
}

/** One native listener group: an address bound once per worker thread. */
class NativeListener {
  /** Allocations of this address by client IP and port. */
  readonly allocations = new AddressMap<Allocation>();

  constructor(
    readonly dp: NativeDataPath,
    readonly group: number,
    readonly local: TransportAddress,
    readonly onSendError: () => void,
  ) {}
}

/** A UDP client five-tuple on a native listener. */
class NativeUdpClient implements ClientConnection {
  readonly transport = 'udp' as const;
  readonly stream = false;
  readonly open = true;
  readonly remote: TransportAddress;

  constructor(
    readonly listener: NativeListener,
    address: string,
    port: number,
    /** Worker thread the kernel steers this five-tuple to (its allocation must live there). */
    readonly worker: number,
  ) {
    const n = normalizeAddress(address);
    this.remote = { family: n.family, address: n.address, port };
  }

  get local(): TransportAddress {
    return this.listener.local;
  }

  get label(): string {
    return `udp ${this.remote.address}:${this.remote.port}->${this.listener.local.address}:${this.listener.local.port}`;
  }

  send(buf: Buffer): void {
    if (this.listener.dp.send(this.listener.group, this.remote.address, this.remote.port, buf) !== undefined) this.listener.onSendError();
  }

  getAllocation(): Allocation | undefined {
    return this.listener.allocations.get(this.remote.address, this.remote.port);
  }

  setAllocation(allocation: Allocation | undefined): void {
    if (allocation) this.listener.allocations.set(this.remote.address, this.remote.port, allocation);
    else this.listener.allocations.delete(this.remote.address, this.remote.port);
  }
}

/** Options of {@link createNativeAdapter}. */
export interface NativeAdapterOptions {
  /** Worker threads; 0 = one per CPU (at most 8). */
  threads: number;
}

/**
 * The native data path, or the one-line reason it is unavailable (addon not built, failed to load,
 * not Linux). Never throws for an unavailable addon.
 */
export function createNativeAdapter(deps: DataPathDeps, options: NativeAdapterOptions): NativeDataPathAdapter | { reason: string } {
  let adapter: NativeDataPathAdapter | undefined;
  const dp = createNativeDataPath({ knownRequired: [...KNOWN_REQUIRED], threads: options.threads }, (packets) => adapter?.onPackets(packets));
  if (!(dp instanceof NativeDataPath)) return dp;
  adapter = new NativeDataPathAdapter(dp, deps);
  return adapter;
}

/** The data path on the native addon. */
export class NativeDataPathAdapter implements DataPath {
  readonly info: DataPathInfo;
  private readonly listeners: NativeListener[] = [];
  private readonly handles = new Map<Allocation, number>();
  private readonly byHandle = new Map<number, Allocation>();
  /** Drops decided on this side (STUN answers the addon could not send). */
  private readonly dropped = new Map<string, number>();
  private readonly hairpin = new HairpinTargets();
  private closed = false;

  constructor(
    private readonly dp: NativeDataPath,
    private readonly deps: DataPathDeps,
  ) {
    this.info = { kind: 'native', threads: dp.info().workers };
  }

  /** Hand-off from the worker threads (JavaScript thread, batches). */
  onPackets(packets: NativePacket[]): void {
    for (const p of packets) {
      try {
        if (p.kind === 'stun') {
          const l = this.listeners[p.group];
          if (l) this.deps.onStun(new NativeUdpClient(l, p.address, p.port, p.worker), p.data);
        } else {
          // Peer data for a TCP/TLS client, already framed and counted; the allocation may have ended meanwhile.
          const a = this.byHandle.get(p.handle);
          if (a && !a.closed) a.client.send(p.data);
        }
      } catch (err) {
        this.deps.onInternalError(err);
      }
    }
  }

  async listenUdp(address: string, port: number): Promise<TransportAddress> {
    const r = this.dp.addListener(address, port);
    if ('error' in r) throw Object.assign(new Error(`bind udp ${address}:${port}: ${r.error}`), { code: r.error });
    const local: TransportAddress = { family: normalizeAddress(address).family, address, port: r.port };
    this.listeners[r.group] = new NativeListener(this.dp, r.group, local, () => bump(this.dropped, 'client_send_error'));
    return { ...local };
  }

  configure(config: DataPathConfig): void {
    this.hairpin.configure(config);
    this.dp.setPolicy({
      minPort: config.ownPorts.minPort,
      maxPort: config.ownPorts.maxPort,
      listeningPorts: [...config.ownPorts.listeningPorts],
      localRelayIps: [...config.localRelayIps],
      hairpinIp: config.hairpinIp,
      hairpinFallbackIp: this.hairpin.fallback,
    });
    const err = this.dp.start();
    if (err !== undefined) throw new Error(`native data path: worker threads did not start (${err})`);
  }

  async bindRelaySocket(address: string, _family: 4 | 6, port: number): Promise<RelaySocket | undefined> {
    const r = this.dp.bindRelay(address, port);
    if ('error' in r) {
      if (r.error === 'EADDRINUSE' || r.error === 'EACCES') return undefined;
      throw Object.assign(new Error(`bind relay socket ${address}:${port}: ${r.error}`), { code: r.error });
    }
    return new NativeRelaySocket(this.dp, r.socket, r.port);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dp.stop();
  }

  // ------------------------------------------------------------ control plane → data path

  allocationCreated(a: Allocation): void {
    const socket = a.relaySocket;
    if (!(socket instanceof NativeRelaySocket)) throw new TypeError('relay socket not bound by the native data path');
    const c = a.client;
    const common = { socket: socket.id, transactionId: randomBytes(12), maxBps: this.deps.maxBps };
    const h =
      c instanceof NativeUdpClient
        ? this.dp.createAllocation({ ...common, worker: c.worker, stream: false, group: c.listener.group, clientIp: c.remote.address, clientPort: c.remote.port })
        : this.dp.createAllocation({ ...common, worker: -1, stream: true });
    if (typeof h === 'string') throw new Error(`native data path refused the allocation (${h})`);
    socket.owned = true;
    this.handles.set(a, h);
    this.byHandle.set(h, a);
    this.hairpin.add(a.relayed.port, a.relayed.address);
  }

  allocationEnded(a: Allocation): void {
    const h = this.handles.get(a);
    if (h === undefined) return;
    // The addon forgets the allocation's counters with it: keep the last values for the end report.
    Object.assign(a.counters, this.allocationCounters(a));
    this.dp.endAllocation(h);
    this.handles.delete(a);
    this.byHandle.delete(h);
    this.hairpin.remove(a.relayed.port, a.relayed.address);
  }

  permissionInstalled(a: Allocation, ip: string, permission: Permission): void {
    const h = this.handles.get(a);
    if (h !== undefined) this.dp.installPermission(h, ip, permission.own);
  }

  permissionExpired(a: Allocation, ip: string): void {
    const h = this.handles.get(a);
    if (h !== undefined) this.dp.removePermission(h, ip);
  }

  /** A channel to one of our own relayed addresses sends to its local address (hairpin rule). */
  channelBound(a: Allocation, binding: ChannelBinding, own: boolean): void {
    if (own) binding.sendAddress = this.hairpin.destination(binding.peer);
    const h = this.handles.get(a);
    if (h !== undefined) this.dp.bindChannel(h, binding.number, binding.peer.address, binding.peer.port, binding.sendAddress, binding.sendPort);
  }

  channelExpired(a: Allocation, binding: ChannelBinding): void {
    const h = this.handles.get(a);
    if (h !== undefined) this.dp.unbindChannel(h, binding.number);
  }

  // ------------------------------------------------------------ TCP/TLS client → peer (counted natively)

  clientChannelData(a: Allocation, buf: Buffer): void {
    const h = this.handles.get(a);
    if (h === undefined) bump(this.dropped, 'no_allocation');
    else this.dp.relayFromClient(h, buf);
  }

  sendIndication(a: Allocation, peer: TransportAddress, data: Buffer): void {
    const h = this.handles.get(a);
    if (h === undefined) bump(this.dropped, 'no_allocation');
    else this.dp.sendToPeer(h, peer.address, peer.port, data);
  }

  // ------------------------------------------------------------ reporting

  sweep(_nowMs: number): void {}

  counters(): DataPathCounters {
    const s = this.dp.stats();
    const dropped = { ...s.dropped };
    for (const [reason, n] of this.dropped) dropped[reason] = (dropped[reason] ?? 0) + n;
    return {
      clientToPeer: { packets: s.c2pPackets, bytes: s.c2pBytes, viaChannel: s.c2pChannel },
      peerToClient: { packets: s.p2cPackets, bytes: s.p2cBytes, viaChannel: s.p2cChannel },
      dropped,
    };
  }

  allocationCounters(a: Allocation): AllocationCounters {
    const h = this.handles.get(a);
    const c = h === undefined ? undefined : this.dp.allocationCounters(h);
    // Ended (or never created): the values kept at the end, else zeros.
    if (!c) return { ...a.counters };
    return { packetsToPeer: c.packetsToPeer, bytesToPeer: c.bytesToPeer, packetsFromPeer: c.packetsFromPeer, bytesFromPeer: c.bytesFromPeer };
  }
}
