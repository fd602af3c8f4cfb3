/**
 * The relay's data path: everything that happens per relayed packet, behind one interface with two
 * implementations — {@link JsDataPath} (Node's dgram sockets, `jsDataPath.ts`) and the native one
 * (`native/adapter.ts`: an N-API addon with worker threads, recvmmsg/sendmmsg). The data path owns
 * the UDP listening sockets and the relay sockets:
 *
 * - client → peer: ChannelData (RFC 8656 §12.6) and the payload of Send indications (§10.2), sent
 *   from the allocation's relay socket when a permission for the peer's IP exists;
 * - peer → client (§11.3, §12.7): a datagram on a relay socket from a permitted peer goes to the
 *   client as ChannelData when a channel is bound to that peer, else as a Data indication;
 * - the own-address and hairpin rules (see turn/README.md);
 * - the bandwidth limit per allocation (`maxBps`, coturn's `--max-bps`): bytes per second of
 *   relayed payload, each direction on its own; what is over it is dropped (`over_bandwidth`).
 *
 * The control plane (request handlers, `AllocationManager`) talks to it only through
 * {@link DataPath}: STUN messages from UDP clients come up through `onStun`; it reports
 * allocations created/ended, permissions installed/expired and channels bound/expired, binds relay
 * sockets through it, and hands over TCP/TLS client input; the data path reports counters and drops
 * by reason, with the same names on both implementations.
 */
import type { AllocationCounters, DataPathInfo } from '../contracts/relay.js';
import type { Allocation } from './allocation/allocation.js';
import type { AllocationObserver } from './allocation/manager.js';
import type { PeerAddressPolicy, OwnPortRule } from './policy/peerAddress.js';
import type { TransportAddress } from './stun/address.js';
import type { ClientConnection } from './transport/connection.js';

export type { DataPathInfo };

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
  /** The same port rule as plain data (relay port range, listening ports), for the native path. */
  ownPorts: Required<OwnPortRule>;
  /** The external IP when it is not a local address (1:1 NAT without hairpin), else undefined. */
  hairpinIp: string | undefined;
  /** Local IPs the relay sockets are bound to. */
  localRelayIps: ReadonlySet<string>;
  /** The configured relay IP, if any. */
  relayIp: string | undefined;
}

/** A bound relay socket (an allocation's relayed transport address), owned by the data path that bound it. */
export interface RelaySocket {
  readonly port: number;
  /** Close it (a no-op once an allocation owns it: ending the allocation closes it). Never throws. */
  close(): void;
}

/** Binds relay sockets for the relay port pool (`allocation/relayPorts.ts`). */
export interface RelaySocketBinder {
  /**
   * Bind a UDP socket on `address`:`port`.
   * @returns the socket, or undefined when the port is taken or not allowed (EADDRINUSE, EACCES): try another.
   * @throws Error on any other bind error.
   */
  bindRelaySocket(address: string, family: 4 | 6, port: number): Promise<RelaySocket | undefined>;
}

/** What a data path needs from the relay. */
export interface DataPathDeps {
  /**
   * A STUN message from a UDP client (a whole datagram; the native path hands up requests only,
   * and relays indications itself). Must not throw.
   */
  onStun(conn: ClientConnection, msg: Buffer): void;
  /** An exception inside a socket handler (counted as `internalErrors`; must not throw). */
  onInternalError(err: unknown): void;
  /** Bandwidth limit per allocation and direction, bytes per second of payload (0 = none). */
  maxBps: number;
}

/** The data path as the rest of the relay sees it. */
export interface DataPath extends AllocationObserver, RelaySocketBinder {
  /** Which implementation, its worker threads, and why the JavaScript path runs when native was possible. */
  readonly info: DataPathInfo;
  /**
   * Bind the UDP listening socket(s) on `address`:`port` (0 = any free port).
   * @returns the bound address.
   * @throws Error whose message names the errno (EADDRINUSE, EADDRNOTAVAIL...).
   */
  listenUdp(address: string, port: number): Promise<TransportAddress>;
  /**
   * Apply the address rules and start relaying (called by `start()` once every listener is bound,
   * before any allocation exists).
   * @throws Error when relaying cannot start (native worker threads).
   */
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
  /**
   * Packet and byte counters of one allocation (admin view), also readable once it ended: the
   * final values (the end report uses them).
   */
  allocationCounters(allocation: Allocation): AllocationCounters;
  /** Close the listening sockets (after every allocation ended). Idempotent. */
  close(): Promise<void>;
}
