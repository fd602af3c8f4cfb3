/**
 * Relay counters, exposed by `TurnServer.stats()` and the IPC `stats` message. Every dropped input
 * is counted under a reason, e.g. `bad_cookie`, `truncated_attribute`, `short_channel_data`,
 * `unknown_channel`, `peer_not_permitted`, `own_address_port` (data to/from one of the relay's own
 * addresses on a port that is not a relay port), `no_allocation`, `rate_limited`, `relay_socket_error`.
 */

import type { TurnStats } from '../contracts/relay.js';

export type { TurnStats };

/** Mutable counters owned by the server. */
export class StatsCollector {
  readonly startedAt = Date.now();
  allocationsCreated = 0;
  allocationsExpired = 0;
  allocationsDeleted = 0;
  allocationsClosedWithConnection = 0;
  allocationsEnded = 0;
  connectionsTcp = 0;
  connectionsTls = 0;
  successResponses = 0;
  authSuccess = 0;
  internalErrors = 0;
  c2pPackets = 0;
  c2pBytes = 0;
  c2pChannel = 0;
  p2cPackets = 0;
  p2cBytes = 0;
  p2cChannel = 0;
  readonly requests = new Map<string, number>();
  readonly errorResponses = new Map<string, number>();
  readonly authFailures = new Map<string, number>();
  readonly dropped = new Map<string, number>();

  private static bump(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }

  /** Count a dropped input. */
  drop(reason: string): void {
    StatsCollector.bump(this.dropped, reason);
  }

  request(method: string): void {
    StatsCollector.bump(this.requests, method);
  }

  errorResponse(code: number): void {
    StatsCollector.bump(this.errorResponses, String(code));
  }

  authFailure(reason: string): void {
    StatsCollector.bump(this.authFailures, reason);
  }

  /** Snapshot with the live gauges supplied by the server. */
  snapshot(g: { allocations: number; permissions: number; channels: number; relayPortsInUse: number }): TurnStats {
    const obj = (m: Map<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
    return {
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      allocations: {
        current: g.allocations,
        created: this.allocationsCreated,
        expired: this.allocationsExpired,
        deleted: this.allocationsDeleted,
        closedWithConnection: this.allocationsClosedWithConnection,
        ended: this.allocationsEnded,
      },
      permissions: g.permissions,
      channels: g.channels,
      connections: { tcp: this.connectionsTcp, tls: this.connectionsTls, total: this.connectionsTcp + this.connectionsTls },
      requests: obj(this.requests),
      successResponses: this.successResponses,
      errorResponses: obj(this.errorResponses),
      auth: { success: this.authSuccess, failures: obj(this.authFailures) },
      relayed: {
        clientToPeer: { packets: this.c2pPackets, bytes: this.c2pBytes, viaChannel: this.c2pChannel },
        peerToClient: { packets: this.p2cPackets, bytes: this.p2cBytes, viaChannel: this.p2cChannel },
      },
      dropped: obj(this.dropped),
      internalErrors: this.internalErrors,
      relayPortsInUse: g.relayPortsInUse,
    };
  }
}
