/**
 * The relay as a process: `npm run turn` (node dist/turn/main.js) runs it standalone; the web
 * server forks it as a supervised child. Reads TURN_* settings with `loadConfig()` (see
 * contracts/config.ts) and logs with log4js category `turn` — to its console when standalone, as
 * `log` records to the parent when forked. With a parent it speaks `contracts/relayIpc.ts`
 * (see `ipc.ts`): `ready` after start, replies to requests by id, and it stops on `stop`, SIGTERM,
 * SIGINT or when the parent disconnects (exit code 0).
 *
 * TLS material: TURN_TLS_CERT/TURN_TLS_KEY, else the web server's choice (`chooseTlsFiles`: TLS_CERT/
 * TLS_KEY, the ACME certificate, the self-signed pair), else no TLS listener (warning). The files are
 * polled every {@link TLS_POLL_MS} ms; a renewed certificate is served without a restart.
 */
import path from 'node:path';
import log4js from 'log4js';
import { loadConfig, type Env } from '../contracts/config.js';
import { isRelayParentMessage } from '../contracts/relayIpc.js';
import { loadOrCreateSecrets } from './auth/secretStore.js';
import { answerRequest, ipcAppender, sendToParent } from './ipc.js';
import { createTurnServer, type TurnServer } from './turnServer.js';
import { candidateTlsFiles, chooseTlsFiles, type TlsPair } from '../common/tlsFiles.js';
import { TlsFileWatcher } from '../common/tlsWatcher.js';

function tlsMaterial(cfg: Env, warn: (m: string) => void): TlsPair | undefined {
  const pair = chooseTlsFiles(cfg, 'relay');
  if (!pair) warn(`no TLS certificate (TURN_TLS_CERT/KEY, TLS_CERT/KEY or ${path.join(cfg.CERTS_DIR, 'server.crt')}): TURN over TLS disabled`);
  return pair;
}

/** How often the relay looks for a renewed certificate, ms. */
const TLS_POLL_MS = 3000;

async function main(): Promise<void> {
  const cfg = loadConfig();
  const forked = process.send !== undefined;
  log4js.configure({
    appenders: forked ? { parent: { type: ipcAppender } } : { console: { type: 'console' } },
    categories: { default: { appenders: [forked ? 'parent' : 'console'], level: cfg.LOG_LEVEL } },
  });
  const logger = log4js.getLogger('turn');
  const secrets = loadOrCreateSecrets(cfg.TURN_SECRET, cfg.DATA_DIR);
  let tls: TlsPair | undefined;
  let relay: TurnServer;
  try {
    tls = tlsMaterial(cfg, (m) => logger.warn(m));
    relay = createTurnServer({
      realm: cfg.TURN_REALM,
      secrets,
      usersFile: cfg.TURN_USERS_FILE,
      listen: cfg.TURN_LISTEN,
      port: cfg.TURN_PORT,
      tlsPort: cfg.TURN_TLS_PORT,
      tls: tls && { cert: tls.certPem, key: tls.keyPem },
      minPort: cfg.TURN_MIN_PORT,
      maxPort: cfg.TURN_MAX_PORT,
      relayIp: cfg.TURN_RELAY_IP,
      externalIp: cfg.TURN_EXTERNAL_IP,
      allowedPeers: cfg.TURN_ALLOWED_PEERS,
      defaultLifetime: cfg.TURN_DEFAULT_LIFETIME,
      maxLifetime: Math.max(cfg.TURN_MAX_LIFETIME, cfg.TURN_DEFAULT_LIFETIME),
      permissionLifetime: cfg.TURN_PERMISSION_LIFETIME,
      channelLifetime: cfg.TURN_CHANNEL_LIFETIME,
      nonceLifetime: cfg.TURN_NONCE_LIFETIME,
      channelRange: cfg.TURN_CHANNEL_RANGE,
      dataPath: cfg.TURN_DATA_PATH,
      relayThreads: cfg.TURN_RELAY_THREADS,
      maxBps: cfg.TURN_MAX_BPS,
      userQuota: cfg.TURN_USER_QUOTA,
      totalQuota: cfg.TURN_TOTAL_QUOTA,
      unauthBurst: cfg.TURN_UNAUTH_BURST,
      unauthPerSecond: cfg.TURN_UNAUTH_RATE,
      logger,
    });
    await relay.start();
  } catch (err) {
    logger.error(`relay failed to start: ${(err as Error).message}`);
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
    logger.info(`stopping (${why})`);
    setTimeout(() => process.exit(0), 5000).unref();
    await relay.stop();
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

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
