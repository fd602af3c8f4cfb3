/**
 * Prometheus metrics of the served certificate and the ACME client:
 * - `webrtc_tls_certificate_expiry_seconds{source}` (gauge): Unix time at which the served
 *   certificate expires (`source` = acme | configured | self-signed); alert on
 *   `webrtc_tls_certificate_expiry_seconds - time() < 14 * 86400`;
 * - `webrtc_tls_certificate_reloads_total` (counter): certificates swapped in without a restart;
 * - with ACME: `webrtc_acme_orders_total{result="success|failure"}` (counter),
 *   `webrtc_acme_consecutive_failures` (gauge), `webrtc_acme_last_success_timestamp_seconds`
 *   (gauge, 0 before the first success), `webrtc_acme_next_attempt_timestamp_seconds` (gauge).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AcmeManager } from './acme.js';
import type { TlsService } from './tlsService.js';

const unixS = (d: Date | undefined): number => (d ? Math.floor(d.getTime() / 1000) : 0);

/**
 * @returns a function registering the collectors on a registry (pass it to `createMetrics`).
 */
export function tlsMetrics(tls: TlsService, acme: AcmeManager | undefined): (registry: Registry) => void {
  return (registry) => {
    new Gauge({
      name: 'webrtc_tls_certificate_expiry_seconds',
      help: 'Unix time at which the served TLS certificate expires',
      labelNames: ['source'],
      registers: [registry],
      collect() {
        this.reset();
        const s = tls.served();
        this.set({ source: s.source }, unixS(s.notAfter));
      },
    });
    new Counter({
      name: 'webrtc_tls_certificate_reloads_total',
      help: 'TLS certificates swapped in without a restart',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(tls.reloads);
      },
    });
    if (!acme) return;
    new Counter({
      name: 'webrtc_acme_orders_total',
      help: 'ACME certificate orders by result',
      labelNames: ['result'],
      registers: [registry],
      collect() {
        this.reset();
        const st = acme.status();
        this.inc({ result: 'success' }, st.ordersSucceeded);
        this.inc({ result: 'failure' }, st.ordersFailed);
      },
    });
    new Gauge({
      name: 'webrtc_acme_consecutive_failures',
      help: 'Failed ACME orders since the last success',
      registers: [registry],
      collect() {
        this.set(acme.status().consecutiveFailures);
      },
    });
    new Gauge({
      name: 'webrtc_acme_last_success_timestamp_seconds',
      help: 'Unix time of the last successful ACME order (0: none since start)',
      registers: [registry],
      collect() {
        this.set(unixS(acme.status().lastSuccess));
      },
    });
    new Gauge({
      name: 'webrtc_acme_next_attempt_timestamp_seconds',
      help: 'Unix time of the next ACME check or order',
      registers: [registry],
      collect() {
        this.set(unixS(acme.status().nextAttempt));
      },
    });
  };
}
