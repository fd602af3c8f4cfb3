/**
 * Owns every allocation: creation (relay socket from the port pool, quotas), lookup by id,
 * per-user counts, permissions and channel bindings, the expiry sweep, and teardown (the relay
 * socket is closed and its port returned at once). Every change is reported to an
 * {@link AllocationObserver} — the data path — so it never has to poll or read the clock.
 */
import { randomBytes } from 'node:crypto';
import type { AllocationEndReason } from '../../contracts/relay.js';
import type { RelaySocket, RelaySocketBinder } from '../dataPath.js';
import type { TransportAddress } from '../stun/address.js';
import type { ClientConnection } from '../transport/connection.js';
import { Allocation } from './allocation.js';
import type { BindResult, ChannelBinding } from './channels.js';
import type { Permission } from './permissions.js';
import { RelayPortPool } from './relayPorts.js';

/**
 * What the control plane tells the data path, in order, for each allocation:
 * created → (permission installed/expired, channel bound/expired)* → ended.
 * Calls are synchronous and must not throw (except `allocationCreated`, see there).
 */
export interface AllocationObserver {
  /**
   * The relay socket is bound; relaying for this allocation may start.
   * @throws Error when the data path cannot take it (the allocation is then not created: 500).
   */
  allocationCreated(allocation: Allocation): void;
  /** Called before the relay socket is closed; nothing more is relayed for it. */
  allocationEnded(allocation: Allocation): void;
  /** A permission for peer IP `ip` was installed or refreshed (RFC 8656 §9). */
  permissionInstalled(allocation: Allocation, ip: string, permission: Permission): void;
  /** The permission for `ip` expired. */
  permissionExpired(allocation: Allocation, ip: string): void;
  /**
   * A channel was bound or refreshed (RFC 8656 §11). `own`: the peer is one of the relay's own
   * addresses (the data path decides where that channel's data really goes).
   */
  channelBound(allocation: Allocation, binding: ChannelBinding, own: boolean): void;
  /** The binding expired (its number and peer stay reserved, see `Channels`). */
  channelExpired(allocation: Allocation, binding: ChannelBinding): void;
}

/** Why an allocation ended (for stats and logs). */
export type EndReason = AllocationEndReason;

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
  socket: RelaySocket;
  port: number;
  relayIp: string;
  expiresAt: number;
}

/** How long a reserved port is held, ms (RFC 8656 §7.2 suggests about 30 s). */
export const RESERVATION_MS = 30_000;

/** Thrown by {@link AllocationManager.create} when the user was revoked while its relay socket was being bound. */
export class RevokedError extends Error {
  constructor(username: string) {
    super(`user ${username} was revoked`);
    this.name = 'RevokedError';
  }
}

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
  private readonly perUser = new Map<string, number>();
  /** Allocations being created (relay socket bind in progress), counted against the quotas. */
  private pending = 0;
  private readonly pendingPerUser = new Map<string, number>();
  /** Usernames revoked while some of their allocations were being created → revocation count. */
  private readonly revokedWhilePending = new Map<string, number>();
  private nextId = 1;
  readonly ports: RelayPortPool;
  private readonly reservations = new Map<string, Reservation>();

  /**
   * @param userQuota  most allocations per username (0 = unlimited).
   * @param totalQuota most allocations in total (0 = unlimited).
   * @param observer   the data path: told every change, and binds the relay sockets.
   * @param onEnd      called once when an allocation ends (after the observer).
   */
  constructor(
    minPort: number,
    maxPort: number,
    private readonly userQuota: number,
    private readonly totalQuota: number,
    private readonly observer: AllocationObserver & RelaySocketBinder,
    private readonly onEnd: (allocation: Allocation, reason: EndReason) => void,
  ) {
    this.ports = new RelayPortPool(minPort, maxPort, observer);
  }

  /** Allocations of `username` (including ones being created). */
  countForUser(username: string): number {
    return (this.perUser.get(username) ?? 0) + (this.pendingPerUser.get(username) ?? 0);
  }

  /**
   * Create an allocation: check quotas, bind a relay socket, register.
   * @throws QuotaError (486 per user, 508 total); NoRelayPortError (→ 508); ReservationError (→ 508);
   *         RevokedError (the user was revoked meanwhile, see {@link endUser}); other bind errors.
   */
  async create(p: CreateAllocationParams): Promise<Allocation> {
    if (this.userQuota > 0 && this.countForUser(p.username) >= this.userQuota) throw new QuotaError(486, `user ${p.username} has ${this.userQuota} allocations`);
    if (this.totalQuota > 0 && this.allocations.size + this.pending >= this.totalQuota) throw new QuotaError(508, `relay has ${this.totalQuota} allocations`);
    this.pending++;
    this.pendingPerUser.set(p.username, (this.pendingPerUser.get(p.username) ?? 0) + 1);
    let socket: RelaySocket;
    let port: number;
    let reservationToken: Buffer | undefined;
    const revocations = this.revokedWhilePending.get(p.username) ?? 0;
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
      if ((this.revokedWhilePending.get(p.username) ?? 0) !== revocations) {
        this.ports.closeAndRelease(socket, port);
        throw new RevokedError(p.username);
      }
    } finally {
      this.pending--;
      const n = (this.pendingPerUser.get(p.username) ?? 1) - 1;
      if (n > 0) this.pendingPerUser.set(p.username, n);
      else {
        this.pendingPerUser.delete(p.username);
        this.revokedWhilePending.delete(p.username);
      }
    }
    const relayed: TransportAddress = { family: p.family, address: p.relayIp, port };
    const advertised: TransportAddress = { family: p.family, address: p.advertisedIp, port };
    const id = `${(this.nextId++).toString(36)}-${randomBytes(4).toString('hex')}`;
    const allocation = new Allocation(id, p.client, p.username, p.key, p.transactionIdHex, socket, relayed, advertised, p.lifetimeMs);
    allocation.reservationToken = reservationToken;
    try {
      this.observer.allocationCreated(allocation);
    } catch (err) {
      this.ports.closeAndRelease(socket, port);
      throw err;
    }
    this.allocations.set(id, allocation);
    this.perUser.set(p.username, (this.perUser.get(p.username) ?? 0) + 1);
    return allocation;
  }

  /** Install or refresh the permission for peer IP `ip` until `expiresAtMs` (RFC 8656 §9). */
  installPermission(allocation: Allocation, ip: string, expiresAtMs: number, own: boolean): void {
    allocation.permissions.install(ip, expiresAtMs, own);
    this.observer.permissionInstalled(allocation, ip, allocation.permissions.get(ip)!);
  }

  /**
   * Bind `number` to `peer` or refresh that binding (RFC 8656 §11.2); see `Channels.bind`.
   * @param own  the peer is one of the relay's own addresses (from the peer policy).
   */
  bindChannel(allocation: Allocation, number: number, peer: TransportAddress, expiresAtMs: number, own: boolean, nowMs = Date.now()): BindResult {
    const result = allocation.channels.bind(number, peer, expiresAtMs, nowMs);
    if (result === 'created' || result === 'refreshed') this.observer.channelBound(allocation, allocation.channels.byNumber.get(number)!, own);
    return result;
  }

  /**
   * End every allocation of `username`, including the ones still being created (their Allocate
   * fails with {@link RevokedError}).
   * @returns how many live allocations were ended.
   */
  endUser(username: string, reason: EndReason): number {
    if (this.pendingPerUser.has(username)) this.revokedWhilePending.set(username, (this.revokedWhilePending.get(username) ?? 0) + 1);
    if (!this.perUser.has(username)) return 0;
    const mine = [...this.allocations.values()].filter((a) => a.username === username);
    for (const a of mine) this.end(a, reason);
    return mine.length;
  }

  /** End an allocation: close its relay socket, release the port, detach from the client. Idempotent. */
  end(allocation: Allocation, reason: EndReason): void {
    if (allocation.closed) return;
    allocation.closed = true;
    this.observer.allocationEnded(allocation);
    this.allocations.delete(allocation.id);
    const n = (this.perUser.get(allocation.username) ?? 1) - 1;
    if (n > 0) this.perUser.set(allocation.username, n);
    else this.perUser.delete(allocation.username);
    allocation.relaySocket.close();
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
      a.permissions.sweep(nowMs, (ip) => this.observer.permissionExpired(a, ip));
      a.channels.sweep(nowMs, (b) => this.observer.channelExpired(a, b));
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
