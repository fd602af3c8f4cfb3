/**
 * UDP listening sockets (RFC 8656 §3.1 over UDP). One socket per local address, so the relay
 * always knows which of its addresses a datagram arrived on (used for the relayed address when no
 * relay IP is configured, and for the five-tuple). Each listener keeps the allocations of its
 * five-tuples in an {@link AddressMap} keyed by the client's IP and port (no per-packet string building).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Allocation } from '../allocation/allocation.js';
import { normalizeAddress, type TransportAddress } from '../stun/address.js';
import { AddressMap } from './addressMap.js';
import type { ClientConnection } from './connection.js';
import { literalLookup } from './lookup.js';

/** Datagram handler; must not throw (the server wraps its work). */
export type UdpMessageHandler = (listener: UdpListener, msg: Buffer, rinfo: RemoteInfo) => void;

/** Socket buffer size requested for listening sockets, bytes (the kernel may cap it at net.core.rmem_max). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** One bound UDP listening socket. */
export class UdpListener {
  readonly socket: Socket;
  /** Bound address (valid after {@link start}). */
  local: TransportAddress;
  /** Allocations on this socket by client IP and port (as Node reports them in `rinfo`). */
  readonly allocations = new AddressMap<Allocation>();

  constructor(
    address: string,
    private readonly port: number,
    onMessage: UdpMessageHandler,
  ) {
    const family = normalizeAddress(address).family;
    this.local = { family, address, port };
    this.socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: literalLookup as never, ipv6Only: family === 6 });
    this.socket.on('message', (msg, rinfo) => onMessage(this, msg, rinfo));
    // Send errors surface in send callbacks; stray socket errors must not crash the process.
    this.socket.on('error', () => {});
  }

  /**
   * Bind the socket.
   * @throws the bind error (EADDRINUSE, EADDRNOTAVAIL...).
   */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.bind({ address: this.local.address, port: this.port, exclusive: true }, () => {
        this.socket.off('error', onError);
        resolve();
      });
    });
    const a = this.socket.address();
    this.local = { family: this.local.family, address: this.local.address, port: a.port };
    try {
      this.socket.setRecvBufferSize(SOCKET_BUFFER_BYTES);
      this.socket.setSendBufferSize(SOCKET_BUFFER_BYTES);
    } catch {
      /* best effort */
    }
  }

  /** Close the socket. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** The five-tuple object for a datagram's source. */
  client(rinfo: RemoteInfo): UdpClient {
    return new UdpClient(this, rinfo.address, rinfo.port);
  }
}

/** A UDP client five-tuple (listening socket + client address). */
export class UdpClient implements ClientConnection {
  readonly transport = 'udp' as const;
  readonly stream = false;
  readonly open = true;
  readonly remote: TransportAddress;

  constructor(
    readonly listener: UdpListener,
    /** The source address exactly as Node reported it (the listener's allocation map key). */
    private readonly rawAddress: string,
    port: number,
  ) {
    const n = normalizeAddress(rawAddress);
    this.remote = { family: n.family, address: n.address, port };
  }

  get local(): TransportAddress {
    return this.listener.local;
  }

  get label(): string {
    return `udp ${this.remote.address}:${this.remote.port}->${this.listener.local.address}:${this.listener.local.port}`;
  }

  /** Send without offset/length (Node then skips a per-call Buffer view) and without callback (no per-packet nextTick). */
  send(buf: Buffer): void {
    this.listener.socket.send(buf, this.remote.port, this.remote.address);
  }

  getAllocation(): Allocation | undefined {
    return this.listener.allocations.get(this.rawAddress, this.remote.port);
  }

  setAllocation(allocation: Allocation | undefined): void {
    if (allocation) this.listener.allocations.set(this.rawAddress, this.remote.port, allocation);
    else this.listener.allocations.delete(this.rawAddress, this.remote.port);
  }
}
