/**
 * Data shapes the relay reports to the outside: its counters (`TurnServer.stats()`, the IPC `stats`
 * reply, `GET /api/admin/relay`) and the admin view of one allocation (`listAllocations()`, IPC,
 * `GET /api/admin/relay/allocations`). Plain JSON, so they cross process boundaries unchanged.
 * Addresses inside {@link AllocationInfo} are `ip:port` / `[ip]:port` text for people to read;
 * nothing parses them back.
 */

/** A transport address: IP (v4 dotted quad or v6 text) and UDP/TCP port. Crosses IPC as it is. */
export interface TransportAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** IP address text, e.g. `192.0.2.1` or `2001:db8::1` (never bracketed). */
  address: string;
  /** Port, 0–65535. */
  port: number;
}

/** Transport between a client and the relay (RFC 8656 §3.1); the relayed side is always UDP. */
export type TurnTransport = 'udp' | 'tcp' | 'tls';

/** Which data path relays the packets (TURN_DATA_PATH): the native addon or the JavaScript one. */
export interface DataPathInfo {
  kind: 'native' | 'js';
  /** Threads that relay packets (native worker threads; 1 for the JavaScript path). */
  threads: number;
  /** Why the JavaScript path runs although `auto` asked for native (the addon's one-line reason). */
  fallbackReason?: string;
}

/** A snapshot of the counters (plain JSON). */
export interface TurnStats {
  startedAt: string;
  uptimeS: number;
  dataPath: DataPathInfo;
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
  transport: TurnTransport;
  client: string;
  relayed: string;
  advertised: string;
  createdAt: string;
  expiresAt: string;
  permissions: string[];
  channels: Array<{ number: number; peer: string }>;
  counters: AllocationCounters;
}

/** The client side of an allocation (its five-tuple with the relay) and where it is relayed. */
export interface RelayAllocationData {
  /** Allocation id (as in `GET /api/admin/relay/allocations`). */
  allocationId: string;
  /** TURN username (TURN REST: `<expiry>:<id>`). */
  username: string;
  /** Five-tuple: client transport address, the relay's listening address it reached, transport. */
  client: TransportAddress;
  server: TransportAddress;
  transport: TurnTransport;
  /** Relayed transport address (where the relay socket is bound). */
  relayed: TransportAddress;
  /** XOR-RELAYED-ADDRESS told to the client (differs from `relayed` with TURN_EXTERNAL_IP). */
  advertised: TransportAddress;
}

/** An allocation was created (RFC 8656 §7.2): IPC `allocation-start`, webhook `relay.allocation.start`. */
export interface RelayAllocationStartData extends RelayAllocationData {
  /** Granted lifetime, s (refreshed by the client while it is used). */
  lifetimeS: number;
}

/** Why an allocation ended: lifetime over, Refresh with lifetime 0, TCP/TLS connection closed, admin, revoked user, relay stopping. */
export type AllocationEndReason = 'expired' | 'deleted' | 'connection_closed' | 'admin' | 'revoked' | 'stopped';

/** An allocation ended: IPC `allocation-end`, webhook `relay.allocation.end`. */
export interface RelayAllocationEndData extends RelayAllocationData {
  reason: AllocationEndReason;
  /** How long it lived, ms. */
  durationMs: number;
  /** Relayed payload: packets and bytes client → peer (`ToPeer`) and peer → client (`FromPeer`). */
  counters: AllocationCounters;
}
