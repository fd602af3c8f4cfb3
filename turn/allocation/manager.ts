/**
 * Owns every allocation: creation (relay socket from the port pool, quotas), lookup by id,
 * per-user counts, expiry sweep of allocations/permissions/channels, and teardown (the relay
 * socket is closed and its port returned at once).
 */
import { randomBytes } from 'node:crypto';
import type { Socket, RemoteInfo } from 'node:dgram';
import type { TransportAddress } from '../stun/address.js';
import type { ClientConnection } from '../transport/connection.js';
import { Allocation } from './allocation.js';
import { RelayPortPool } from './relayPorts.js';

/** Why an allocation ended (for stats and logs). */
export type EndReason = 'expired' | 'deleted' | 'connection_closed' | 'admin' | 'stopped';

/** Thrown by {@link AllocationManager.create} when a quota is reached: `code` 486 (user) or 508 (total). */
export class QuotaError extends Error {
  constructor(
    readonly code: 486 | 508,
    message: string,
  ) {
    super(message);
    this.name = 'QuotaError';
  }
}

/** What the manager needs to create an allocation. */
export interface CreateAllocationParams {
  client: ClientConnection;
  username: string;
  key: Buffer;
  transactionIdHex: string;
  /** Local IP to bind the relay socket to. */
  relayIp: string;
  family: 4 | 6;
  /** IP advertised in XOR-RELAYED-ADDRESS (external IP or relayIp). */
  advertisedIp: string;
  lifetimeMs: number;
  /** Which relay port: any; an even one (optionally reserving the next, RFC 8656 §7.2); or a reserved one by token. */
  port: { kind: 'any' } | { kind: 'even'; reserve: boolean } | { kind: 'token'; token: string };
}

/** A port held by EVEN-PORT R=1 for a later Allocate with RESERVATION-TOKEN (RFC 8656 §7.2), ~30 s. */
interface Reservation {
  socket: Socket;
  port: number;
  relayIp: string;
  expiresAt: number;
}

/** How long a reserved port is held, ms (RFC 8656 §7.2 suggests about 30 s). */
export const RESERVATION_MS = 30_000;

/** Thrown when a RESERVATION-TOKEN is unknown or expired (the server answers 508). */
export class ReservationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReservationError';
  }
}

/** Allocation registry. */
export class AllocationManager {
  readonly allocations = new Map<string, Allocation>();
  /** Live allocations by relay port (ports are unique across relay IPs in this pool). */
  readonly byRelayPort = new Map<number, Allocation>();
  private readonly perUser = new Map<string, number>();
  /** Allocations being created (relay socket bind in progress), counted against the quotas. */
  private pending = 0;
  private readonly pendingPerUser = new Map<string, number>();
  private nextId = 1;
  readonly ports: RelayPortPool;
  private readonly reservations = new Map<string, Reservation>();

  /**
   * @param onPeerPacket  called for every datagram arriving on a relay socket (never throws out: the caller wraps it).
   * @param onEnd         called once when an allocation ends.
   */
  constructor(
    minPort: number,
    maxPort: number,
    private readonly userQuota: number,
    private readonly totalQuota: number,
    private readonly onPeerPacket: (allocation: Allocation, msg: Buffer, rinfo: RemoteInfo) => void,
    private readonly onEnd: (allocation: Allocation, reason: EndReason) => void,
    /** Called for an 'error' event on a relay socket (counted by the server; never affects another allocation). */
    private readonly onRelayError: (err: Error) => void = () => {},
  ) {
    this.ports = new RelayPortPool(minPort, maxPort);
  }

  /** Allocations of `username` (including ones being created). */
  countForUser(username: string): number {
    return (this.perUser.get(username) ?? 0) + (this.pendingPerUser.get(username) ?? 0);
  }

  /**
   * Create an allocation: check quotas, bind a relay socket, register.
   * @throws QuotaError (486 per user, 508 total); NoRelayPortError (→ 508); other bind errors.
   */
  async create(p: CreateAllocationParams): Promise<Allocation> {
    if (this.userQuota > 0 && this.countForUser(p.username) >= this.userQuota) throw new QuotaError(486, `user ${p.username} has ${this.userQuota} allocations`);
    if (this.totalQuota > 0 && this.allocations.size + this.pending >= this.totalQuota) throw new QuotaError(508, `relay has ${this.totalQuota} allocations`);
    this.pending++;
    this.pendingPerUser.set(p.username, (this.pendingPerUser.get(p.username) ?? 0) + 1);
    let socket: Socket;
    let port: number;
    let reservationToken: Buffer | undefined;
    try {
      if (p.port.kind === 'token') {
        const r = this.reservations.get(p.port.token);
        if (!r || r.relayIp !== p.relayIp) throw new ReservationError('unknown or expired RESERVATION-TOKEN');
        this.reservations.delete(p.port.token);
        ({ socket, port } = r);
      } else if (p.port.kind === 'even' && p.port.reserve) {
        const pair = await this.ports.bindPair(p.relayIp, p.family);
        ({ socket, port } = pair);
        reservationToken = randomBytes(8);
        this.reservations.set(reservationToken.toString('hex'), { socket: pair.reserved, port: pair.reservedPort, relayIp: p.relayIp, expiresAt: Date.now() + RESERVATION_MS });
      } else {
        ({ socket, port } = await this.ports.bind(p.relayIp, p.family, p.port.kind === 'even'));
      }
    } finally {
      this.pending--;
      const n = (this.pendingPerUser.get(p.username) ?? 1) - 1;
      if (n > 0) this.pendingPerUser.set(p.username, n);
      else this.pendingPerUser.delete(p.username);
    }
    const relayed: TransportAddress = { family: p.family, address: p.relayIp, port };
    const advertised: TransportAddress = { family: p.family, address: p.advertisedIp, port };
    const id = `${(this.nextId++).toString(36)}-${randomBytes(4).toString('hex')}`;
    const allocation = new Allocation(id, p.client, p.username, p.key, p.transactionIdHex, socket, relayed, advertised, p.lifetimeMs, randomBytes(12));
    socket.on('message', (msg, rinfo) => this.onPeerPacket(allocation, msg, rinfo));
    // Errors on the relay socket (e.g. ICMP-induced ECONNREFUSED on some systems) affect no one else.
    socket.on('error', this.onRelayError);
    this.allocations.set(id, allocation);
    this.byRelayPort.set(port, allocation);
    this.perUser.set(p.username, (this.perUser.get(p.username) ?? 0) + 1);
    allocation.reservationToken = reservationToken;
    return allocation;
  }

  /** End an allocation: close its relay socket, release the port, detach from the client. Idempotent. */
  end(allocation: Allocation, reason: EndReason): void {
    if (allocation.closed) return;
    allocation.closed = true;
    this.allocations.delete(allocation.id);
    if (this.byRelayPort.get(allocation.relayed.port) === allocation) this.byRelayPort.delete(allocation.relayed.port);
    const n = (this.perUser.get(allocation.username) ?? 1) - 1;
    if (n > 0) this.perUser.set(allocation.username, n);
    else this.perUser.delete(allocation.username);
    allocation.relaySocket.removeAllListeners('message');
    try {
      allocation.relaySocket.close();
    } catch {
      /* already closed */
    }
    this.ports.release(allocation.relayed.port);
    if (allocation.client.getAllocation() === allocation) allocation.client.setAllocation(undefined);
    this.onEnd(allocation, reason);
  }

  /** Expire allocations, permissions and channel bindings due at `nowMs`. */
  sweep(nowMs: number): void {
    for (const [token, r] of this.reservations) {
      if (r.expiresAt <= nowMs) {
        this.reservations.delete(token);
        this.ports.closeAndRelease(r.socket, r.port);
      }
    }
    for (const a of this.allocations.values()) {
      if (a.expiresAt <= nowMs) {
        this.end(a, 'expired');
        continue;
      }
      a.permissions.sweep(nowMs);
      a.channels.sweep(nowMs);
      if (a.peerAttrCache.size > 256) a.peerAttrCache.clear();
      for (const [ip, ports] of a.peerAttrCache) if (ports.size > 256) a.peerAttrCache.delete(ip);
    }
  }

  /** End every allocation (server stop). */
  endAll(reason: EndReason): void {
    for (const r of this.reservations.values()) this.ports.closeAndRelease(r.socket, r.port);
    this.reservations.clear();
    for (const a of [...this.allocations.values()]) this.end(a, reason);
  }

  /** Sum of permissions and channel bindings over all allocations. */
  gauges(): { permissions: number; channels: number } {
    let permissions = 0;
    let channels = 0;
    for (const a of this.allocations.values()) {
      permissions += a.permissions.size;
      channels += a.channels.size;
    }
    return { permissions, channels };
  }
}
