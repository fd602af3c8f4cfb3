/**
 * Assemble and start the whole web server: certificates, Express app, HTTPS listener, Socket.IO
 * signaling and the supervised relay child. `server/main.ts` calls {@link startServer} with the
 * configuration from `loadConfig()`; tests call it in-process with their own configuration.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type express from 'express';
import { createAdminRouter } from './admin.js';
import { connectCluster, type Cluster } from './cluster.js';
import { createApp, type ReadinessChecks } from './app.js';
import { AcmeManager } from './acme.js';
import { createHttpApp } from './acmeHttp.js';
import { attachSocketIo, createProxyServer } from './proxyListener.js';
import { TlsService } from './tlsService.js';
import { tlsMetrics } from './tlsMetrics.js';
import { ConfigError, type Env } from '../contracts/config.js';
import { buildIceServers, iceServerWarnings, normalizeHost, validateTurnUrls } from './iceServers.js';
import { configureLogging, getLogger, isLoggingConfigured } from './logger.js';
import { createMetrics, credentialMetrics, type Metrics } from './metrics.js';
import { seatUserId, TurnCredentials } from './turnCredentials.js';
import { RelaySupervisor, relayPort } from './relaySupervisor.js';
import { MIN_SECRET_LENGTH, SecretStore, weakSecrets } from '../turn/index.js';
import { createSignalingServer, type SignalingServer } from './signaling/signalingServer.js';
import { ProxyTrust } from './clientAddress.js';
import { OriginPolicy } from './originPolicy.js';
import { formatHostPort } from '../common/hostPort.js';
import { emitRelayEvent, emitRoomEvent } from './webhooks/eventSources.js';
import { webhookMetrics } from './webhooks/webhookMetrics.js';
import { webhooksFromConfig, type Webhooks } from './webhooks/webhooks.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** True when running compiled from `dist/server/`, false when running the TypeScript source (tests). */
const compiled = path.basename(path.dirname(here)) === 'dist';

/** Default directory of the built client: `dist/client` next to the compiled server. */
export const DEFAULT_CLIENT_DIR = compiled ? path.resolve(here, '../client') : path.resolve('dist/client');
/** Default relay entry: `dist/turn/main.js` next to the compiled server. */
export const DEFAULT_RELAY_MODULE = compiled ? fileURLToPath(new URL('../turn/main.js', import.meta.url)) : path.resolve('dist/turn/main.js');

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** Validated configuration (`loadConfig()`). */
  config: Env;
  /** Environment given to the relay child (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Built client directory (default {@link DEFAULT_CLIENT_DIR}). */
  clientDir?: string;
  /** Relay entry module (default {@link DEFAULT_RELAY_MODULE}). */
  relayModule?: string;
  /** Wait up to this many ms for the relay `ready` before resolving (default 0: do not wait). */
  waitForRelayMs?: number;
}

/** A running server. */
export interface RunningServer {
  /** `https://HOST:PORT` (HOST 127.0.0.1 when listening on a wildcard address). */
  url: string;
  /** Bound HTTPS port (useful with HTTPS_PORT=0). */
  port: number;
  https: HttpsServer;
  /** The plain-HTTP listener (HTTP_PORT: ACME challenges, redirect to HTTPS), if any. */
  http: HttpServer | undefined;
  /** Bound HTTP port, if any. */
  httpPort: number | undefined;
  /** The plain-HTTP listener for a TLS-terminating reverse proxy (PROXY_HTTP_PORT), if any. */
  proxyHttp: HttpServer | undefined;
  /** Its bound port, if any. */
  proxyHttpPort: number | undefined;
  signaling: SignalingServer;
  relay: RelaySupervisor | undefined;
  metrics: Metrics;
  /** The served certificate (swapped without a restart when its files change). */
  tls: TlsService;
  /** The ACME client, when ACME_DOMAIN is set. */
  acme: AcmeManager | undefined;
  /** The webhook sender, when WEBHOOK_URL is set. */
  webhooks: Webhooks | undefined;
  readiness(): ReadinessChecks;
  /**
   * Graceful stop: `restarting(reason)` to every client, close Socket.IO and HTTPS (open
   * connections are closed), stop the relay. Idempotent; never rejects.
   */
  close(reason?: string): Promise<void>;
}

/**
 * Check settings that `config.ts` accepts as plain strings but the web server needs well-formed.
 * @throws ConfigError naming the variable.
 */
export function checkServerConfig(config: Env): void {
  const errors: string[] = [];
  if (config.TURN_PUBLIC_HOST !== undefined && normalizeHost(config.TURN_PUBLIC_HOST) === undefined) {
    errors.push(`  TURN_PUBLIC_HOST: not a valid host name or IP address: ${JSON.stringify(config.TURN_PUBLIC_HOST.slice(0, 80))}`);
  }
  if (config.TURN_URLS) {
    const e = validateTurnUrls(config.TURN_URLS);
    if (e) errors.push(`  TURN_URLS: ${e}`);
  }
  if (errors.length > 0) throw new ConfigError(`Invalid configuration:\n${errors.join('\n')}\nSee .env.example for every setting.`);
}

/**
 * Start the server.
 * @throws ConfigError for invalid settings; Error when certificates cannot be loaded/created or
 *         the HTTPS port cannot be bound (e.g. EADDRINUSE).
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { config } = options;
  checkServerConfig(config);
  if (!isLoggingConfigured()) configureLogging(config);
  const log = getLogger('server');
  const tls = await TlsService.create(config, log);
  const acme = config.ACME_DOMAIN
    ? new AcmeManager({
        domains: config.ACME_DOMAIN,
        email: config.ACME_EMAIL,
        directoryUrl: config.ACME_DIRECTORY,
        certsDir: config.CERTS_DIR,
        logger: log,
        onCertificate: () => tls.checkNow(),
      })
    : undefined;
  const keyAuthorization = acme && ((token: string) => acme.keyAuthorization(token));

  // Secrets are needed when we mint credentials: the embedded relay, a relay host of ours
  // (TURN_PUBLIC_HOST) or TURN_URLS of an external relay. The set is live: secrets added or removed
  // with turnadmin apply within a second, newest first.
  for (const w of iceServerWarnings(config)) log.warn(w);
  const needSecret = config.TURN_ENABLED || (config.TURN_URLS?.length ?? 0) > 0 || config.TURN_PUBLIC_HOST !== undefined;
  if (needSecret && weakSecrets(config.TURN_SECRET).length > 0) {
    log.warn(`TURN_SECRET: ${weakSecrets(config.TURN_SECRET).length} secret(s) shorter than ${MIN_SECRET_LENGTH} characters are easy to guess; use e.g. \`openssl rand -base64 32\``);
  }
  const secrets = needSecret
    ? new SecretStore({ configured: config.TURN_SECRET, dataDir: config.DATA_DIR, usersFile: config.TURN_USERS_FILE }, getLogger('turn')).start()
    : undefined;

  // Created once the node id is known (after the cluster connected); the relay reports only later.
  let webhooks: Webhooks | undefined;
  let relay: RelaySupervisor | undefined;
  if (config.TURN_ENABLED) {
    const relayModule = options.relayModule ?? DEFAULT_RELAY_MODULE;
    if (!existsSync(relayModule)) log.warn(`relay module ${relayModule} not found (run npm run build:server); it will be retried`);
    relay = new RelaySupervisor({
      modulePath: relayModule,
      env: options.env ?? process.env,
      logger: getLogger('turn'),
      onAllocationEvent: (m) => {
        if (webhooks) emitRelayEvent(m, (type, data, at) => webhooks!.emit(type, data, at));
      },
    });
  }

  let listening = false;
  let signaling: SignalingServer | undefined;
  // Created after Socket.IO is attached (they need the signaling server); the routes delegate.
  let metrics: Metrics | undefined;
  let admin: express.Router | undefined;
  const readiness = (): ReadinessChecks => ({
    https: listening,
    signaling: signaling !== undefined,
    relay: relay ? relay.isReady() : 'disabled',
  });

  // Browsers may use Socket.IO and /api/* only from the allowed origins (ALLOWED_ORIGINS).
  const origins = new OriginPolicy(config.ALLOWED_ORIGINS, config.ACME_DOMAIN ?? [], getLogger('http'));
  const proxies = new ProxyTrust(config.TRUST_PROXY);
  const credentials = new TurnCredentials((requestHost, userId) => {
    // While the relay (re)starts, hand out its last known ports (or the configured port, without
    // turns:) so pages loaded meanwhile can use it as soon as it is back.
    const st = relay?.status();
    const ready = st?.ready ?? st?.lastReady;
    return buildIceServers({
      config,
      requestHost,
      relay: relay
        ? ready
          ? { port: relayPort(ready) ?? config.TURN_PORT, tcp: ready.tcpPort !== null, tlsPort: ready.tlsPort ?? undefined }
          : { port: config.TURN_PORT }
        : undefined,
      secret: secrets?.newest() ?? '',
      userId,
    });
  }, config.ICE_TOKEN);
  if (!config.ICE_TOKEN) log.info('ICE_TOKEN unset: GET /api/ice-servers refuses everyone (403); members get TURN credentials over signaling');

  const app = createApp({
    apiGuard: origins.middleware(),
    clientDir: options.clientDir ?? DEFAULT_CLIENT_DIR,
    readiness,
    acmeChallenge: keyAuthorization,
    iceServers: credentials,
    extraRoutes: (app) => {
      app.get('/metrics', (req, res, next) => metrics!.handler(req, res, next));
      if (config.ADMIN_TOKEN) app.use('/api/admin', (req, res, next) => admin!(req, res, next));
    },
  });

  const https = createServer(tls.pem, app);
  tls.attach(https);
  // Bound header/request times so slow clients cannot hold sockets forever.
  https.headersTimeout = 20_000;
  https.requestTimeout = 60_000;
  // Scale-out (REDIS_URL): seats in Redis and the Socket.IO Redis adapter; otherwise in-process.
  let cluster: Cluster | undefined;
  if (config.REDIS_URL) {
    cluster = await connectCluster({
      url: config.REDIS_URL,
      prefix: config.REDIS_PREFIX,
      nodeTtlMs: config.CLUSTER_NODE_TTL_MS,
      graceMs: config.SEAT_GRACE_MS,
      logger: getLogger('signaling'),
    });
  }
  // With REDIS_URL each node sends the events it sees, under its cluster node id.
  webhooks = webhooksFromConfig(config, cluster?.nodeId ?? hostname(), getLogger('webhooks'));
  if (webhooks) log.info(`webhooks: signed events to ${new URL(config.WEBHOOK_URL!).origin}`);
  const hooks = webhooks;
  signaling = createSignalingServer(https, {
    graceMs: config.SEAT_GRACE_MS,
    logger: getLogger('signaling'),
    turnCredentials: credentials,
    // A member who left keeps no relay allocation: credentials stop being renewed, but an existing
    // allocation may be refreshed past their expiry (see turn/README.md), so it is ended here.
    seatReleased: (room, seatKey) => {
      relay?.request('end-rest-user', { userId: seatUserId(room, seatKey) }).catch(() => undefined);
    },
    ...(cluster ? { seats: cluster.seats, adapter: cluster.adapter } : {}),
    ...(hooks ? { onRoomEvent: (e) => emitRoomEvent(e, (type, data, at) => hooks.emit(type, data, at)) } : {}),
    allowRequest: origins.allowRequest(),
    clientAddress: (remote, headers) => proxies.clientAddress(remote, headers['x-forwarded-for']),
    joinLimit: { burst: config.JOIN_RATE_BURST, perSecond: config.JOIN_RATE_PER_MIN / 60 },
  });
  try {
    await signaling.ready;
  } catch (err) {
    secrets?.stop();
    await signaling.close('start failed');
    await cluster?.close();
    throw new Error(`cannot start the cluster seat store: ${(err as Error).message}`);
  }
  metrics = createMetrics({ signaling, relay, token: config.METRICS_TOKEN, collectors: [tlsMetrics(tls, acme), origins.collector(), credentialMetrics(credentials.counters), ...(webhooks ? [webhookMetrics(webhooks)] : [])] });
  if (config.ADMIN_TOKEN) {
    admin = createAdminRouter({
      token: config.ADMIN_TOKEN,
      signaling,
      relay,
      usersFile: config.TURN_USERS_FILE!,
      realm: config.TURN_REALM,
      logger: getLogger('admin'),
    });
  }

  const listenHost = await listenDualStack(https, config.HTTPS_PORT, config.HTTPS_HOST, log).catch(async (err) => {
    secrets?.stop();
    await signaling?.close('start failed');
    await cluster?.close();
    throw err;
  });
  const port = (https.address() as AddressInfo).port;

  // Plain HTTP (HTTP_PORT): ACME challenges and a redirect to HTTPS. Needed before the first order.
  let http: HttpServer | undefined;
  if (config.HTTP_PORT !== undefined) {
    const plain = createHttpServer(createHttpApp({ httpsPort: port, keyAuthorization }));
    plain.headersTimeout = 20_000;
    plain.requestTimeout = 60_000;
    await listenDualStack(plain, config.HTTP_PORT, listenHost, log).catch(async (err: NodeJS.ErrnoException) => {
      https.close();
      secrets?.stop();
      await signaling?.close('start failed');
      await cluster?.close();
      const hint = err.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE; or set HTTP_PORT)' : '';
      throw new Error(`HTTP_PORT ${config.HTTP_PORT}: ${err.message}${hint}`);
    });
    plain.on('error', (err) => log.error(`http: ${err.message}`));
    http = plain;
  }
  const httpPort = http ? (http.address() as AddressInfo).port : undefined;

  // Plain HTTP for a reverse proxy that terminates TLS (PROXY_HTTP_PORT): the same app and Socket.IO.
  let proxyHttp: HttpServer | undefined;
  if (config.PROXY_HTTP_PORT !== undefined) {
    const server = createProxyServer(app);
    await listenDualStack(server, config.PROXY_HTTP_PORT, config.PROXY_HTTP_HOST, log).catch(async (err: Error) => {
      https.close();
      http?.close();
      secrets?.stop();
      await signaling?.close('start failed');
      await cluster?.close();
      throw new Error(`PROXY_HTTP_PORT ${config.PROXY_HTTP_PORT}: ${err.message}`);
    });
    attachSocketIo(signaling.io, server);
    server.on('error', (err) => log.error(`proxy http: ${err.message}`));
    proxyHttp = server;
  }
  const proxyHttpPort = proxyHttp ? (proxyHttp.address() as AddressInfo).port : undefined;
  tls.start();
  acme?.start();

  listening = true;
  https.on('error', (err) => log.error(`https: ${err.message}`));
  https.on('tlsClientError', (err) => getLogger('http').debug(`TLS handshake failed: ${err.message}`));
  const host = ['0.0.0.0', '::', ''].includes(listenHost) ? '127.0.0.1' : listenHost;
  const url = `https://${formatHostPort(host, port)}`;
  log.info(`listening on ${formatHostPort(listenHost, port)}${listenHost === '::' ? ' (IPv6 and IPv4)' : ''} (${url})${httpPort !== undefined ? `; plain HTTP on ${httpPort}${acme ? ' (ACME challenges, redirect)' : ' (redirect)'}` : ''}${proxyHttp ? `; plain HTTP for a reverse proxy on ${formatHostPort(config.PROXY_HTTP_HOST, proxyHttpPort!)}` : ''}`);

  if (relay) {
    relay.start();
    if (options.waitForRelayMs && !(await relay.waitReady(options.waitForRelayMs))) {
      log.warn(`relay not ready after ${options.waitForRelayMs} ms; continuing (readyz reports it)`);
    }
  }

  let closing: Promise<void> | undefined;
  const close = (reason = 'server shutting down'): Promise<void> => {
    closing ??= (async () => {
      log.info(`stopping: ${reason}`);
      listening = false;
      tls.stop();
      acme?.stop();
      secrets?.stop();
      // First tell every client (also long-polling ones, which need new requests), then close.
      await signaling!.close(reason);
      const httpsClosed = new Promise<void>((resolve) => https.close(() => resolve()));
      https.closeAllConnections();
      const httpClosed = new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      http?.closeAllConnections();
      const proxyClosed = new Promise<void>((resolve) => (proxyHttp ? proxyHttp.close(() => resolve()) : resolve()));
      proxyHttp?.closeAllConnections();
      await Promise.all([httpsClosed, httpClosed, proxyClosed, relay?.stop()]);
      // After signaling and the relay: their last events (leaves, allocations ended) get a chance.
      await webhooks?.close();
      await cluster?.close();
      log.info('stopped');
    })().catch((err) => {
      log.error(`error while stopping: ${(err as Error).message}`);
    });
    return closing;
  };

  return { url, port, https, http, httpPort, proxyHttp, proxyHttpPort, signaling, relay, metrics, tls, acme, webhooks, readiness, close };
}

/**
 * Listen on `host`:`port`. `::` means every IPv6 and IPv4 address (one dual-stack socket); on a
 * host without IPv6 it falls back to `0.0.0.0` with a warning.
 * @returns the address actually listened on.
 * @throws the listen error (e.g. EADDRINUSE, EACCES).
 */
async function listenDualStack(server: HttpServer | HttpsServer, port: number, host: string, log: { warn(m: string): void }): Promise<string> {
  const attempt = (h: string) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: h, ipv6Only: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await attempt(host);
    return host;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (host !== '::' || !['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT'].includes(code)) throw err;
    log.warn(`cannot listen on [::]:${port} (${code}: no IPv6 on this host); listening on 0.0.0.0 (IPv4 only)`);
    await attempt('0.0.0.0');
    return '0.0.0.0';
  }
}
