/**
 * Data shapes the relay reports to the outside: its counters (`TurnServer.stats()`, the IPC `stats`
 * reply, `GET /api/admin/relay`) and the admin view of one allocation (`listAllocations()`, IPC,
 * `GET /api/admin/relay/allocations`). Plain JSON, so they cross process boundaries unchanged.
 */

/** A snapshot of the counters (plain JSON). */
export interface TurnStats {
  startedAt: string;
  uptimeS: number;
  allocations: { current: number; created: number; expired: number; deleted: number; closedWithConnection: number; ended: number };
  permissions: number;
  channels: number;
  connections: { tcp: number; tls: number; total: number };
  /** Requests received, by method name. */
  requests: Record<string, number>;
  /** Success responses sent. */
  successResponses: number;
  /** Error responses sent, by code. */
  errorResponses: Record<string, number>;
  auth: { success: number; failures: Record<string, number> };
  relayed: {
    /** `viaChannel`: packets carried as ChannelData (the rest as Send/Data indications). */
    clientToPeer: { packets: number; bytes: number; viaChannel: number };
    peerToClient: { packets: number; bytes: number; viaChannel: number };
  };
  /** Dropped input, by reason. */
  dropped: Record<string, number>;
  /** Exceptions caught in socket handlers (should stay 0). */
  internalErrors: number;
  relayPortsInUse: number;
}

/** Byte and packet counters of one allocation. */
export interface AllocationCounters {
  packetsToPeer: number;
  bytesToPeer: number;
  packetsFromPeer: number;
  bytesFromPeer: number;
}

/** Admin view of an allocation (see `TurnServer.listAllocations()`). */
export interface AllocationInfo {
  id: string;
  username: string;
  transport: string;
  client: string;
  relayed: string;
  advertised: string;
  createdAt: string;
  expiresAt: string;
  permissions: string[];
  channels: Array<{ number: number; peer: string }>;
  counters: AllocationCounters;
}
