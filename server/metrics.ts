/**
 * `GET /metrics` in the Prometheus text format (prom-client), one registry per server instance.
 *
 * Signaling: `webrtc_signaling_rooms`, `_seats{state="connected|held"}`, `_sockets` (gauges);
 * `_connections_total`, `_joins_total{kind="new|resumed|rejoin"}`, `_full_total`,
 * `_seat_releases_total{reason="leave|disconnect|grace_expired"}`, `_messages_relayed_total`,
 * `_refused_total{reason}`, `_refused_by_event_total{event}` (counters).
 * Relay (from the child via IPC `stats`, fetched once per scrape, 1 s timeout): `webrtc_turn_up`,
 * `_restarts_total`, and the relay metrics of `common/relayMetrics.ts` (`_allocations`, …).
 * Cluster (only with REDIS_URL): `webrtc_cluster_heartbeats_total{result="ok|error"}`,
 * `_reclaimed_nodes_total`, `_reclaimed_seats_total` (counters); the signaling room/seat gauges
 * then count this node's seats.
 * TLS certificate and ACME: see tlsMetrics.ts (`webrtc_tls_certificate_expiry_seconds`, …).
 * Origin check: `webrtc_origin_refused_total{surface="socketio|api"}` (originPolicy.ts). Join
 * refusals: `_refused_total{reason="wrong-passcode"}` and `{reason="join-rate-limited"}` (the
 * per-address join limit; sent to the client as `rate-limited`).
 * TURN credentials ({@link credentialMetrics}): `webrtc_ice_credentials_issued_total{via="joined|renewal|http"}`,
 * `webrtc_ice_credentials_refused_total{reason="not-a-member|ice-token-unset|token-required|wrong-token"}`.
 * Process: prom-client default metrics with prefix `webrtc_` (CPU, memory, event loop lag, fds...).
 */
import type express from 'express';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { pullCounter, pullGauge, type Sample } from '../common/pullMetrics.js';
import type { TurnStats } from '../contracts/relay.js';
import { registerRelayMetrics } from '../common/relayMetrics.js';
import { hasBearer } from './auth.js';
import type { RelaySupervisor } from './relaySupervisor.js';
import { RedisSeatStore } from './signaling/redisSeatStore.js';
import type { SignalingServer } from './signaling/signalingServer.js';
import type { CredentialCounters } from './turnCredentials.js';


/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  signaling: SignalingServer;
  relay: RelaySupervisor | undefined;
  /** Bearer token required to scrape (optional). */
  token?: string;
  /** More collectors to register (e.g. the TLS certificate's, see tlsMetrics.ts). */
  collectors?: Array<(registry: Registry) => void>;
}

/** A metrics registry and the Express handler serving it. */
export interface Metrics {
  registry: Registry;
  /** Mount on `GET /metrics`. */
  handler: express.RequestHandler;
}


/**
 * Create the registry and handler.
 * @returns the registry (tests read it) and the route handler (401 without the token when one is set).
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const { signaling, relay } = options;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'webrtc_' });
  for (const register of options.collectors ?? []) register(registry);

  // Relay stats of the current scrape (fetched by the handler before collecting).
  let relayStats: TurnStats | undefined;

  const gauge = (name: string, help: string, labelNames: string[], read: () => Sample[]) => pullGauge(registry, name, help, labelNames, read);
  const counter = (name: string, help: string, labelNames: string[], read: () => Sample[]) => pullCounter(registry, name, help, labelNames, read);

  const s = signaling.counters;
  // With REDIS_URL these count the seats of this node's sockets (sum over nodes for the total).
  const counts = () => signaling.seats.counts();
  gauge('webrtc_signaling_rooms', 'Rooms with at least one seat (with Redis: rooms with a seat of this node)', [], () => [[{}, counts().rooms]]);
  gauge('webrtc_signaling_seats', 'Seats taken, by state (held = inside the grace period)', ['state'], () => {
    const c = counts();
    return [
      [{ state: 'connected' }, c.seats - c.held],
      [{ state: 'held' }, c.held],
    ];
  });
  gauge('webrtc_signaling_sockets', 'Connected Socket.IO clients', [], () => [[{}, signaling.socketCount()]]);
  counter('webrtc_signaling_connections_total', 'Socket.IO connections accepted', [], () => [[{}, s.connections]]);
  counter('webrtc_signaling_joins_total', 'Successful joins by kind', ['kind'], () => [
    [{ kind: 'new' }, s.joins],
    [{ kind: 'resumed' }, s.resumes],
    [{ kind: 'rejoin' }, s.rejoins],
  ]);
  counter('webrtc_signaling_full_total', 'Joins answered with full', [], () => [[{}, s.full]]);
  counter('webrtc_signaling_seat_releases_total', 'Seats freed, by reason', ['reason'], () => [
    [{ reason: 'leave' }, s.leaves],
    [{ reason: 'disconnect' }, s.disconnectLeaves - s.graceExpired],
    [{ reason: 'grace_expired' }, s.graceExpired],
  ]);
  counter('webrtc_signaling_messages_relayed_total', 'message events relayed to the other member', [], () => [[{}, s.messagesRelayed]]);
  counter('webrtc_signaling_refused_total', 'Refused requests by reason', ['reason'], () =>
    Object.entries(s.refused).map(([reason, v]): Sample => [{ reason }, v]),
  );
  counter('webrtc_signaling_refused_by_event_total', 'Refused requests by event (join, leave, message, other)', ['event'], () =>
    Object.entries(s.refusedByEvent).map(([event, v]): Sample => [{ event }, v]),
  );

  // Scale-out (REDIS_URL): this node's view of the cluster.
  const seats = signaling.seats;
  if (seats instanceof RedisSeatStore) {
    const c = seats.counters;
    counter('webrtc_cluster_heartbeats_total', 'Cluster heartbeats, by result', ['result'], () => [
      [{ result: 'ok' }, c.heartbeats],
      [{ result: 'error' }, c.heartbeatErrors],
    ]);
    counter('webrtc_cluster_reclaimed_nodes_total', 'Dead nodes whose seats this node reclaimed', [], () => [[{}, c.reclaimedNodes]]);
    counter('webrtc_cluster_reclaimed_seats_total', 'Seats this node reclaimed from dead nodes', [], () => [[{}, c.reclaimedSeats]]);
  }

  if (relay) {
    const rs = () => relayStats;
    gauge('webrtc_turn_up', '1 when the relay child is ready', [], () => [[{}, relay.isReady() ? 1 : 0]]);
    counter('webrtc_turn_restarts_total', 'Relay child restarts', [], () => [[{}, relay.status().restarts]]);
    registerRelayMetrics(registry, rs);
  }

  const handler: express.RequestHandler = async (req, res, next) => {
    try {
      if (options.token && !hasBearer(req, options.token)) {
        res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').json({ error: 'unauthorized' });
        return;
      }
      relayStats = relay
        ? await relay.request('stats', {}, 1000).then(
            (r) => r.stats,
            () => undefined,
          )
        : undefined;
      const body = await registry.metrics();
      res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(body);
    } catch (err) {
      next(err);
    }
  };
  return { registry, handler };
}

/**
 * Collector of the TURN credential counters: handed out by channel (`joined`, `renewal` over
 * signaling, `http` to testers with ICE_TOKEN) and refused by reason.
 */
export function credentialMetrics(c: CredentialCounters): (registry: Registry) => void {
  return (registry) => {
    pullCounter(registry, 'webrtc_ice_credentials_issued_total', 'ICE servers with TURN REST credentials handed out, by channel (joined, renewal over signaling, http to testers)', ['via'], () => Object.entries(c.issued).map(([via, v]): Sample => [{ via }, v]));
    pullCounter(registry, 'webrtc_ice_credentials_refused_total', 'TURN credential requests refused, by reason', ['reason'], () => Object.entries(c.refused).map(([reason, v]): Sample => [{ reason }, v]));
  };
}
