/**
 * The relay's Prometheus metrics (prom-client), defined once for the web server's `/metrics` (stats
 * from the relay child over IPC) and the standalone relay's own listener (`TURN_METRICS_PORT`, coturn
 * `--prometheus`), so both expose the same names: `webrtc_turn_allocations`,
 * `_allocations_total{event}`, `_permissions`, `_channels`, `_relay_ports_in_use`,
 * `_connections_total{transport}`, `_requests_total{method}`, `_error_responses_total{code}`,
 * `_auth_total{result,reason}`, `_relayed_packets_total{direction}`, `_relayed_bytes_total{direction}`,
 * `_dropped_total{reason}`, `_internal_errors_total`.
 */
import type { Registry } from 'prom-client';
import { pullCounter, pullGauge, type Sample } from './pullMetrics.js';
import type { TurnStats } from '../contracts/relay.js';


const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
const entries = (o: unknown): Array<[string, number]> =>
  o && typeof o === 'object' ? Object.entries(o as Record<string, unknown>).map(([k, v]) => [k, num(v)]) : [];

/**
 * Register the relay metrics in `registry`.
 * @param rs  the stats of the current scrape (undefined: the relay did not answer; counters read 0).
 */
export function registerRelayMetrics(registry: Registry, rs: () => TurnStats | undefined): void {
  const gauge = (name: string, help: string, labelNames: string[], read: () => Sample[]) => pullGauge(registry, name, help, labelNames, read);
  const counter = (name: string, help: string, labelNames: string[], read: () => Sample[]) => pullCounter(registry, name, help, labelNames, read);
  gauge('webrtc_turn_allocations', 'Current allocations', [], () => [[{}, num(rs()?.allocations?.current)]]);
  counter('webrtc_turn_allocations_total', 'Allocation events', ['event'], () => {
    const a = rs()?.allocations;
    return a
      ? [
          [{ event: 'created' }, num(a.created)],
          [{ event: 'expired' }, num(a.expired)],
          [{ event: 'deleted' }, num(a.deleted)],
          [{ event: 'closed_with_connection' }, num(a.closedWithConnection)],
          [{ event: 'ended' }, num(a.ended)],
        ]
      : [];
  });
  gauge('webrtc_turn_permissions', 'Installed permissions', [], () => [[{}, num(rs()?.permissions)]]);
  gauge('webrtc_turn_channels', 'Bound channels', [], () => [[{}, num(rs()?.channels)]]);
  gauge('webrtc_turn_relay_ports_in_use', 'Relay ports in use', [], () => [[{}, num(rs()?.relayPortsInUse)]]);
  counter('webrtc_turn_connections_total', 'TCP/TLS client connections accepted', ['transport'], () => {
    const c = rs()?.connections;
    return c ? [[{ transport: 'tcp' }, num(c.tcp)], [{ transport: 'tls' }, num(c.tls)]] : [];
  });
  counter('webrtc_turn_requests_total', 'STUN/TURN requests by method', ['method'], () =>
    entries(rs()?.requests).map(([method, v]) => [{ method }, v]),
  );
  counter('webrtc_turn_error_responses_total', 'Error responses by code', ['code'], () =>
    entries(rs()?.errorResponses).map(([code, v]) => [{ code }, v]),
  );
  counter('webrtc_turn_auth_total', 'Authentication results', ['result', 'reason'], () => {
    const a = rs()?.auth;
    if (!a) return [];
    return [[{ result: 'success', reason: '' }, num(a.success)], ...entries(a.failures).map(([reason, v]): Sample => [{ result: 'failure', reason }, v])];
  });
  counter('webrtc_turn_relayed_packets_total', 'Relayed packets', ['direction'], () => {
    const r = rs()?.relayed;
    return r ? [[{ direction: 'client_to_peer' }, num(r.clientToPeer?.packets)], [{ direction: 'peer_to_client' }, num(r.peerToClient?.packets)]] : [];
  });
  counter('webrtc_turn_relayed_bytes_total', 'Relayed bytes', ['direction'], () => {
    const r = rs()?.relayed;
    return r ? [[{ direction: 'client_to_peer' }, num(r.clientToPeer?.bytes)], [{ direction: 'peer_to_client' }, num(r.peerToClient?.bytes)]] : [];
  });
  counter('webrtc_turn_dropped_total', 'Dropped input by reason', ['reason'], () => entries(rs()?.dropped).map(([reason, v]) => [{ reason }, v]));
  counter('webrtc_turn_internal_errors_total', 'Exceptions caught in relay handlers', [], () => [[{}, num(rs()?.internalErrors)]]);
}
