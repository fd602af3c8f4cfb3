/**
 * Prometheus metrics of the webhook sender (only when WEBHOOK_URL is set):
 * - `webrtc_webhook_events_total{type}` (counter): events emitted, by type;
 * - `webrtc_webhook_delivered_total` (counter): events the receiver answered with 2xx;
 * - `webrtc_webhook_failed_attempts_total` (counter): tries that did not deliver (error, timeout, non-2xx);
 * - `webrtc_webhook_dropped_total{reason}` (counter): events given up — `queue_full` (the bounded
 *   queue was full when it was emitted), `attempts` (WEBHOOK_MAX_ATTEMPTS tries failed), `rejected`
 *   (the receiver answered 4xx other than 408/429), `shutdown` (still queued when the server stopped),
 *   `refused_flood` (`room.refused` beyond 20 per second, burst 100: a flood of bad joins);
 * - `webrtc_webhook_queue_length` (gauge): events waiting, in flight or waiting for a retry.
 */
import type { Registry } from 'prom-client';
import { pullCounter, pullGauge, type Sample } from '../../common/pullMetrics.js';
import type { Webhooks } from './webhooks.js';

/** @returns a function registering the collectors on a registry (pass it to `createMetrics`). */
export function webhookMetrics(webhooks: Webhooks): (registry: Registry) => void {
  const c = webhooks.queue.counters;
  return (registry) => {
    const counter = (name: string, help: string, labelNames: string[], read: () => Sample[]) => pullCounter(registry, name, help, labelNames, read);
    counter('webrtc_webhook_events_total', 'Webhook events emitted, by type', ['type'], () => [...webhooks.emitted].map(([type, n]): Sample => [{ type }, n]));
    counter('webrtc_webhook_delivered_total', 'Webhook events delivered (2xx)', [], () => [[{}, c.delivered]]);
    counter('webrtc_webhook_failed_attempts_total', 'Webhook tries that did not deliver (error, timeout, non-2xx)', [], () => [[{}, c.failedAttempts]]);
    counter('webrtc_webhook_dropped_total', 'Webhook events given up, by reason', ['reason'], () => [
      ...Object.entries(c.dropped).map(([reason, n]): Sample => [{ reason }, n]),
      [{ reason: 'refused_flood' }, webhooks.refusedFlood],
    ]);
    pullGauge(registry, 'webrtc_webhook_queue_length', 'Webhook events waiting, in flight or waiting for a retry', [], () => [[{}, webhooks.queue.length]]);
  };
}
