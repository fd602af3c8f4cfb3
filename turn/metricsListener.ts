/**
 * The standalone relay's Prometheus listener (`TURN_METRICS_PORT`; coturn `--prometheus`, port 9641):
 * `GET /metrics` serves the relay metrics (`common/relayMetrics.ts`, the same names as the web
 * server's `/metrics`), `webrtc_turn_up` and the process metrics (prefix `webrtc_`); `GET /` answers
 * 200 `ok` as a health check, like coturn's. With `METRICS_TOKEN` set, `/metrics` needs
 * `Authorization: Bearer <token>`. Listens on every address (`::`, or `0.0.0.0` without IPv6).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { TurnStats } from '../contracts/relay.js';
import { registerRelayMetrics } from '../common/relayMetrics.js';

/** A running listener. */
export interface MetricsListener {
  /** The bound port. */
  port: number;
  close(): Promise<void>;
}

function bearerOk(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Start the listener.
 * @param port   TCP port (0 = any).
 * @param token  bearer token required by /metrics, or undefined for none.
 * @param stats  the relay's counters, read per scrape.
 * @throws Error when the port cannot be bound (e.g. EADDRINUSE).
 */
export async function startMetricsListener(o: { port: number; token?: string; stats: () => TurnStats }): Promise<MetricsListener> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'webrtc_' });
  new Gauge({ name: 'webrtc_turn_up', help: '1 while the relay runs', registers: [registry] }).set(1);
  let current: TurnStats | undefined;
  registerRelayMetrics(registry, () => current);
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    } else if (url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (url !== '/metrics') {
      res.writeHead(404).end();
    } else if (o.token && !bearerOk(req.headers.authorization, o.token)) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="metrics"' }).end();
    } else {
      current = o.stats();
      registry.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' }).end(body),
        () => res.writeHead(500).end(),
      );
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 20_000;
  try {
    await listen(server, o.port, '::');
  } catch (err) {
    if (!['EAFNOSUPPORT', 'EADDRNOTAVAIL'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    await listen(server, o.port, '0.0.0.0');
  }
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
