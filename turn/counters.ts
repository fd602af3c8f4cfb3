/**
 * The relay's counters, reported by `TurnServer.stats()`, the IPC `stats` reply, `/metrics` and
 * `GET /api/admin/relay`. The control plane counts here (requests, responses, authentication,
 * allocations, TCP/TLS connections, input it drops); the data path (JavaScript or native) keeps its
 * own packet, byte and drop counters ({@link DataPathCounters}, same names on both) and
 * {@link RelayCounters.snapshot} merges both.
 *
 * Every dropped input is counted under a reason, e.g. `bad_cookie`, `truncated_attribute`,
 * `short_channel_data`, `unknown_channel`, `peer_not_permitted`, `own_address_port` (data to/from
 * one of the relay's own addresses on a port that is not a relay port), `no_allocation`,
 * `rate_limited`, `relay_socket_error`, `over_bandwidth` (over the allocation's `maxBps`). The native
 * path adds what only it can see: `truncated`, `js_queue_full`, `relay_send_error`, `client_send_error`.
 */
import type { TurnStats } from '../contracts/relay.js';
import type { DataPathCounters, DataPathInfo } from './dataPath.js';

export type { TurnStats };

/** Live gauges supplied by the server at snapshot time. */
export interface RelayGauges {
  allocations: number;
  permissions: number;
  channels: number;
  relayPortsInUse: number;
}

/** Add 1 (or `n`) to `map[key]`. */
export function bump(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** Mutable control-plane counters, owned by the server. */
export class RelayCounters {
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
  readonly requests = new Map<string, number>();
  readonly errorResponses = new Map<string, number>();
  readonly authFailures = new Map<string, number>();
  readonly dropped = new Map<string, number>();

  /** Count a dropped input. */
  drop(reason: string): void {
    bump(this.dropped, reason);
  }

  /** Count a request by method name. */
  request(method: string): void {
    bump(this.requests, method);
  }

  /** Count an error response by code. */
  errorResponse(code: number): void {
    bump(this.errorResponses, String(code));
  }

  /** Count a failed authentication by reason (see `AuthResult`). */
  authFailure(reason: string): void {
    bump(this.authFailures, reason);
  }

  /**
   * A plain-JSON snapshot.
   * @param g     live gauges.
   * @param data  the data path's counters; its drops are added to ours, reason by reason.
   * @param info  which data path relays.
   */
  snapshot(g: RelayGauges, data: DataPathCounters, info: DataPathInfo): TurnStats {
    const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
    const dropped = new Map(this.dropped);
    for (const [reason, n] of Object.entries(data.dropped)) bump(dropped, reason, n);
    return {
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      dataPath: { ...info },
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
      requests: sorted(this.requests),
      successResponses: this.successResponses,
      errorResponses: sorted(this.errorResponses),
      auth: { success: this.authSuccess, failures: sorted(this.authFailures) },
      relayed: { clientToPeer: { ...data.clientToPeer }, peerToClient: { ...data.peerToClient } },
      dropped: sorted(dropped),
      internalErrors: this.internalErrors,
      relayPortsInUse: g.relayPortsInUse,
    };
  }
}
