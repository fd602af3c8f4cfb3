/**
 * One TURN allocation (RFC 8656 §2.2, §5): a relayed transport address (a UDP socket from the
 * relay port range) owned by one client five-tuple and one username, with a lifetime, permissions
 * and channel bindings. This is control-plane state: the JavaScript data path reads the permission
 * and channel tables (and counts in `counters`) but never changes them; the native one gets every
 * change pushed down.
 */
import type { RelaySocket } from '../dataPath.js';
import type { TransportAddress } from '../stun/address.js';
import type { ClientConnection } from '../transport/connection.js';
import type { AllocationCounters, AllocationInfo } from '../../contracts/relay.js';
import { Channels } from './channels.js';
import { Permissions } from './permissions.js';
import { formatHostPort } from '../../common/hostPort.js';

export type { AllocationCounters, AllocationInfo };

/** A live allocation. Created and destroyed by the {@link AllocationManager}. */
export class Allocation {
  readonly permissions = new Permissions();
  readonly channels = new Channels();
  /**
   * Kept by the JavaScript data path (the native one copies its final values here when the allocation
   * ends); the admin view asks the data path (`DataPath.allocationCounters`).
   */
  readonly counters: AllocationCounters = { packetsToPeer: 0, bytesToPeer: 0, packetsFromPeer: 0, bytesFromPeer: 0 };
  readonly createdAt = Date.now();
  /** Expiry, unix ms. */
  expiresAt: number;
  /** Cached success response to the Allocate, resent for a retransmission (same transaction id). */
  allocateResponse: Buffer | undefined;
  closed = false;
  /** RESERVATION-TOKEN to return in the Allocate response when EVEN-PORT asked to reserve the next port. */
  reservationToken: Buffer | undefined;

  constructor(
    /** Opaque id, unique in this process. */
    readonly id: string,
    readonly client: ClientConnection,
    readonly username: string,
    /** Long-term key used to sign responses to this client. */
    readonly key: Buffer,
    /** Transaction id of the Allocate request (hex). */
    readonly allocateTransactionId: string,
    /** Bound by the data path, which relays on it. */
    readonly relaySocket: RelaySocket,
    /** Where the relay socket is bound. */
    readonly relayed: TransportAddress,
    /** What clients are told (XOR-RELAYED-ADDRESS): the external IP when configured. */
    readonly advertised: TransportAddress,
    lifetimeMs: number,
  ) {
    this.expiresAt = Date.now() + lifetimeMs;
  }

  /** Admin view, with the data path's counters of this allocation. */
  info(counters: AllocationCounters): AllocationInfo {
    const fmt = (a: TransportAddress) => formatHostPort(a.address, a.port);
    return {
      id: this.id,
      username: this.username,
      transport: this.client.transport,
      client: fmt(this.client.remote),
      relayed: fmt(this.relayed),
      advertised: fmt(this.advertised),
      createdAt: new Date(this.createdAt).toISOString(),
      expiresAt: new Date(this.expiresAt).toISOString(),
      permissions: this.permissions.entries().map(([ip]) => ip),
      channels: [...this.channels.byNumber.values()].map((c) => ({ number: c.number, peer: fmt(c.peer) })),
      counters,
    };
  }
}
