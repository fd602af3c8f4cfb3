/**
 * The relay as a process: `npm run turn` (node dist/turn/main.js) runs it standalone; the web
 * server forks it as a supervised child; the coturn-style `turnserver` command (cli/turnserver.ts)
 * runs it with settings translated from coturn's options through {@link runRelay}. Settings are the
 * TURN_* variables of `loadConfig()` (contracts/config.ts), mapped to relay options in one place:
 * {@link relayOptions}. Logs use log4js category `turn` — to the console (and `logFile`) when
 * standalone, as `log` records to the parent when forked. With a parent it speaks
 * `contracts/relayIpc.ts` (see `ipc.ts`): `ready` after start, replies to requests by id, and it stops
 * on `stop`, SIGTERM, SIGINT or when the parent disconnects (exit code 0).
 *
 * TURN REST secrets: the shared secret set (auth/secretStore.ts): TURN_SECRET, else the generated
 * `DATA_DIR/turn-secret`, plus the users file's secrets; changes apply within a second.
 *
 * TLS material: TURN_TLS_CERT/TURN_TLS_KEY, else the web server's choice (`chooseTlsFiles`: TLS_CERT/
 * TLS_KEY, the ACME certificate, the self-signed pair). A relay on a host of its own has no web server
 * to make the self-signed pair, so when run alone the relay makes it (CERTS_DIR/server.crt) when
 * nothing else is there: TURN over TLS always listens unless turned off. The files are polled every
 * {@link TLS_POLL_MS} ms; a renewed certificate is served without a restart.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import log4js from 'log4js';
import { ConfigError, loadConfig, type Env } from '../contracts/config.js';
import { isRelayParentMessage } from '../contracts/relayIpc.js';
import { SecretStore, secretId, weakSecrets, MIN_SECRET_LENGTH } from './auth/secretStore.js';
import { answerRequest, ipcAppender, sendToParent } from './ipc.js';
import { startMetricsListener, type MetricsListener } from './metricsListener.js';
import type { AllocationEventListener, TurnServerOptions } from './options.js';
import { createTurnServer, type TurnServer } from './turnServer.js';
import type { TurnLogger } from './logger.js';
import { candidateTlsFiles, chooseTlsFiles, type TlsPair } from '../common/tlsFiles.js';
import { TlsFileWatcher } from '../common/tlsWatcher.js';
import { ensureSelfSigned } from '../common/selfSignedCert.js';

/** How often the relay looks for a renewed certificate, ms. */
const TLS_POLL_MS = 3000;

/** What the coturn-style command adds to the TURN_* settings (things without an environment variable). */
export interface RelayExtras {
  /** Users fixed for the life of the process (coturn `--user NAME:PASSWORD`); hex MD5 keys. */
  staticUsers?: Array<{ name: string; key: string }>;
  /** Accept TURN REST credentials (default true; coturn: only with `--use-auth-secret`). */
  restCredentials?: boolean;
  /** Listeners (default true each; coturn `--no-udp`, `--no-tcp`, `--no-tls`). */
  udp?: boolean;
  tcp?: boolean;
  tls?: boolean;
  /** Also log to this file (coturn `--log-file`); `stdout` or `-`: the console only. */
  logFile?: string;
  /** Warnings to log once the logger exists (e.g. coturn options that are ignored). */
  warnings?: string[];
  /** Information to log at start (e.g. which configuration file was read). */
  notes?: string[];
}

/**
 * The one mapping from settings to `createTurnServer` options.
 * @param cfg      validated settings (`loadConfig()`).
 * @param secrets  the configured/generated REST secrets, read per authentication (the users file's are added by the relay).
 * @param tls      the certificate to serve, or undefined for no TLS listener.
 */
export function relayOptions(cfg: Env, extras: RelayExtras, secrets: () => readonly string[], tls: TlsPair | undefined, logger: TurnLogger): TurnServerOptions {
  return {
    realm: cfg.TURN_REALM,
    secrets,
    restCredentials: extras.restCredentials ?? true,
    usersFile: cfg.TURN_USERS_FILE,
    staticUsers: extras.staticUsers,
    listen: cfg.TURN_LISTEN,
    port: cfg.TURN_PORT,
    tlsPort: cfg.TURN_TLS_PORT,
    udp: extras.udp ?? true,
    tcp: extras.tcp ?? true,
    tls: tls && { cert: tls.certPem, key: tls.keyPem },
    minPort: cfg.TURN_MIN_PORT,
    maxPort: cfg.TURN_MAX_PORT,
    relayIp: cfg.TURN_RELAY_IP,
    externalIp: cfg.TURN_EXTERNAL_IP,
    allowedPeers: cfg.TURN_ALLOWED_PEERS,
    deniedPeers: cfg.TURN_DENIED_PEERS,
    defaultLifetime: cfg.TURN_DEFAULT_LIFETIME,
    maxLifetime: Math.max(cfg.TURN_MAX_LIFETIME, cfg.TURN_DEFAULT_LIFETIME),
    permissionLifetime: cfg.TURN_PERMISSION_LIFETIME,
    channelLifetime: cfg.TURN_CHANNEL_LIFETIME,
    nonceLifetime: cfg.TURN_NONCE_LIFETIME,
    channelRange: cfg.TURN_CHANNEL_RANGE,
    userQuota: cfg.TURN_USER_QUOTA,
    totalQuota: cfg.TURN_TOTAL_QUOTA,
    maxBps: cfg.TURN_MAX_BPS,
    dataPath: cfg.TURN_DATA_PATH,
    relayThreads: cfg.TURN_RELAY_THREADS,
    unauthBurst: cfg.TURN_UNAUTH_BURST,
    unauthPerSecond: cfg.TURN_UNAUTH_RATE,
    logger,
  };
}

/**
 * The certificate for TURN over TLS (see the module comment); generates the self-signed pair when
 * nothing else exists.
 * @throws Error when configured files (TURN_TLS_*, TLS_*) are unusable.
 */
async function tlsMaterial(cfg: Env, logger: TurnLogger, forked: boolean): Promise<TlsPair | undefined> {
  let pair = chooseTlsFiles(cfg, 'relay');
  // Run by the web server, the relay serves the web server's certificate (which it has made by then).
  if (!pair && !forked) {
    const made = await ensureSelfSigned(cfg.CERTS_DIR);
    logger.info(`TURN over TLS: ${made.generated ? 'generated a' : 'using the'} self-signed certificate ${made.certPath} (SHA-256 ${made.fingerprint256})`);
    pair = chooseTlsFiles(cfg, 'relay');
  }
  if (!pair) logger.warn(`no TLS certificate (TURN_TLS_CERT/KEY, TLS_CERT/KEY or ${path.join(cfg.CERTS_DIR, 'server.crt')}): TURN over TLS disabled`);
  if (pair?.source === 'self-signed' && !forked) {
    logger.warn(`TURN over TLS uses the self-signed certificate ${pair.cert}: browsers refuse turns: URLs with it; set TURN_TLS_CERT/TURN_TLS_KEY (or TLS_CERT/TLS_KEY) to a certificate for this host's name`);
  }
  return pair;
}

function configureLogging(cfg: Env, extras: RelayExtras, forked: boolean): void {
  const toFile = extras.logFile && extras.logFile !== 'stdout' && extras.logFile !== '-' ? extras.logFile : undefined;
  const appenders: Record<string, log4js.Appender> = forked ? { parent: { type: ipcAppender } } : { console: { type: 'console' } };
  if (toFile) appenders.file = { type: 'file', filename: toFile, maxLogSize: 10 * 1024 * 1024, backups: 5 };
  log4js.configure({ appenders, categories: { default: { appenders: Object.keys(appenders), level: cfg.LOG_LEVEL } } });
}

/**
 * Run the relay until stopped (see the module comment). Exits the process with code 1 when it cannot
 * start, 0 after a stop.
 */
export async function runRelay(cfg: Env, extras: RelayExtras = {}): Promise<void> {
  const forked = process.send !== undefined;
  configureLogging(cfg, extras, forked);
  const logger = log4js.getLogger('turn');
  for (const n of extras.notes ?? []) logger.info(n);
  for (const w of extras.warnings ?? []) logger.warn(w);
  if (forked && cfg.TURN_METRICS_PORT !== undefined) logger.warn('TURN_METRICS_PORT ignored: run by the web server, whose /metrics has the relay metrics');

  let relay: TurnServer;
  let secrets: SecretStore | undefined;
  let tls: TlsPair | undefined;
  let metrics: MetricsListener | undefined;
  try {
    if (extras.restCredentials !== false) {
      const weak = weakSecrets(cfg.TURN_SECRET);
      if (weak.length > 0) logger.warn(`TURN_SECRET: ${weak.length} secret(s) shorter than ${MIN_SECRET_LENGTH} characters are easy to guess; use e.g. \`openssl rand -base64 32\``);
      secrets = new SecretStore({ configured: cfg.TURN_SECRET, dataDir: cfg.DATA_DIR, usersFile: cfg.TURN_USERS_FILE }, logger).start();
      const s = secrets.all();
      logger.info(`TURN REST secrets: ${s.map((e) => `${secretId(e.value)} (${e.source === 'generated' ? `generated, ${cfg.DATA_DIR}/turn-secret` : e.source === 'configured' ? 'TURN_SECRET' : `added, ${cfg.TURN_USERS_FILE}`})`).join(', ')}; newest first`);
    } else if (cfg.TURN_SECRET) {
      logger.warn('TURN_SECRET ignored: TURN REST credentials are off (coturn: without --use-auth-secret)');
    }
    if (extras.tls !== false) tls = await tlsMaterial(cfg, logger, forked);
    const store = secrets;
    // The web server sends webhooks; it learns about allocations over IPC (only when it will use them).
    const allocationEvents: AllocationEventListener | undefined =
      forked && cfg.WEBHOOK_URL
        ? {
            started: (allocation, at) => void sendToParent({ type: 'allocation-start', at, allocation }),
            ended: (allocation, at) => void sendToParent({ type: 'allocation-end', at, allocation }),
          }
        : undefined;
    relay = createTurnServer({ ...relayOptions(cfg, extras, () => store?.base() ?? [], tls, logger), allocationEvents });
    await relay.start();
    if (cfg.TURN_METRICS_PORT !== undefined && !forked) {
      metrics = await startMetricsListener({ port: cfg.TURN_METRICS_PORT, token: cfg.METRICS_TOKEN, stats: () => relay.stats() });
      logger.info(`Prometheus metrics on port ${metrics.port} (/metrics; / answers 200 while the relay runs)`);
    }
  } catch (err) {
    logger.error(`relay failed to start: ${(err as Error).message}`);
    secrets?.stop();
    await sendToParent({ type: 'start-failed', message: (err as Error).message });
    await log4js.shutdown();
    process.exit(1);
  }
  const tlsWatcher = new TlsFileWatcher({
    files: () => candidateTlsFiles(cfg, 'relay'),
    load: () => chooseTlsFiles(cfg, 'relay'),
    current: tls,
    intervalMs: TLS_POLL_MS,
    onChange: (p) => {
      relay.setTls({ cert: p.certPem, key: p.keyPem });
      logger.info(`TLS certificate reloaded: ${p.source} ${p.cert} (serial ${p.x509.serialNumber}, valid to ${new Date(p.x509.validTo).toISOString()})`);
    },
    onError: (err) => logger.warn(`TLS certificate not reloaded, keeping the current one: ${err.message}`),
  });
  if (tls) tlsWatcher.start();
  if (cfg.TURN_ALLOWED_PEERS.length > 0) logger.warn(`relaying allowed to otherwise refused peers in ${cfg.TURN_ALLOWED_PEERS.join(', ')}`);

  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    tlsWatcher.stop();
    secrets?.stop();
    logger.info(`stopping (${why})`);
    setTimeout(() => process.exit(0), 5000).unref();
    await Promise.all([relay.stop(), metrics?.close()]);
    await log4js.shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  if (forked) {
    process.on('disconnect', () => void shutdown('parent disconnected'));
    process.on('message', (m: unknown) => {
      if (!isRelayParentMessage(m)) return;
      if (m.type === 'stop') void shutdown('stop message');
      else void sendToParent(answerRequest(relay, m));
    });
  }
  const a = relay.addresses();
  await sendToParent({ type: 'ready', udp: a.udp, tcpPort: a.tcpPort ?? null, tlsPort: a.tlsPort ?? null });
}

/** True when this file is the process's entry point (not imported by the `turnserver` command). */
function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  let cfg: Env;
  try {
    cfg = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : String(err));
    process.exit(1);
  }
  runRelay(cfg).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
