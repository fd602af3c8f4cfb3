/**
 * The certificate the web server serves, and its swap without a restart.
 *
 * At start: the configured `TLS_CERT`/`TLS_KEY`, else (with `ACME_DOMAIN`) the last good ACME
 * certificate when it is still valid for every name, else the self-signed one (generated if
 * needed) — the choice is `chooseTlsFiles`, shared with the relay so both serve the same pair.
 * While running, the files are polled ({@link TLS_POLL_MS}); a new pair (ACME renewal, certbot
 * replacing `TLS_CERT`) goes into every attached listener with `setSecureContext()`: new
 * handshakes get it, established connections keep going. A broken replacement is logged and the
 * current pair stays in service.
 */
import type { Server as TlsServer } from 'node:tls';
import type log4js from 'log4js';
import type { Env } from '../contracts/config.js';
import { candidateTlsFiles, chooseTlsFiles, type TlsPair } from '../common/tlsFiles.js';
import { TlsFileWatcher } from '../common/tlsWatcher.js';
import { ensureCertificates } from './certs.js';

/** How often the certificate files are checked for a change, ms. */
export const TLS_POLL_MS = 3000;

/** Settings {@link TlsService} reads. */
export type TlsSettings = Pick<Env, 'TLS_CERT' | 'TLS_KEY' | 'CERTS_DIR' | 'ACME_DOMAIN'>;

/** What is served now. */
export interface ServedCertificate {
  source: TlsPair['source'];
  certPath: string;
  serial: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
  /** Issuer distinguished name, one `K=V` per line as Node prints it. */
  issuer: string;
}

/** Holds the served pair, swaps it into attached listeners when the files change. */
export class TlsService {
  private readonly servers: TlsServer[] = [];
  private watcher: TlsFileWatcher | undefined;
  /** Successful swaps since start. */
  reloads = 0;

  private constructor(
    private readonly config: TlsSettings,
    private readonly log: log4js.Logger,
    private pair: TlsPair,
  ) {}

  /**
   * Pick the pair to serve at start (generating the self-signed fallback when missing or expiring).
   * @throws Error when `TLS_CERT`/`TLS_KEY` are unusable (never replaced silently), or when
   *         `CERTS_DIR` is not writable.
   */
  static async create(config: TlsSettings, log: log4js.Logger): Promise<TlsService> {
    const fallback = await ensureCertificates(config);
    const pair = chooseTlsFiles(config, 'web');
    if (!pair) throw new Error(`no usable certificate in ${config.CERTS_DIR}`);
    const svc = new TlsService(config, log, pair);
    const kind = pair.source === 'self-signed' ? `self-signed certificate ${fallback.generated ? 'generated' : 'reused'}` : `${pair.source === 'acme' ? 'ACME' : 'configured'} certificate`;
    log.info(`${kind} ${pair.cert} (${svc.describe()})`);
    return svc;
  }

  /** PEM chain and key of the served pair (for `https.createServer`). */
  get pem(): { cert: string; key: string } {
    return { cert: this.pair.certPem, key: this.pair.keyPem };
  }

  /** The served certificate. */
  served(): ServedCertificate {
    const x = this.pair.x509;
    return {
      source: this.pair.source,
      certPath: this.pair.cert,
      serial: x.serialNumber,
      fingerprint256: x.fingerprint256,
      notBefore: new Date(x.validFrom),
      notAfter: new Date(x.validTo),
      issuer: x.issuer,
    };
  }

  /** Swap the context of `server` whenever the served pair changes. */
  attach(server: TlsServer): void {
    this.servers.push(server);
  }

  /** Start polling the files. Idempotent. */
  start(): void {
    this.watcher ??= new TlsFileWatcher({
      files: () => candidateTlsFiles(this.config, 'web'),
      load: () => chooseTlsFiles(this.config, 'web'),
      current: this.pair,
      intervalMs: TLS_POLL_MS,
      onChange: (next) => {
        // Every server takes the new pair or (on the first failure) none is left behind: a bad
        // pair fails on the first setSecureContext, before anything changed.
        for (const s of this.servers) s.setSecureContext({ cert: next.certPem, key: next.keyPem });
        this.pair = next;
        this.reloads++;
        this.log.info(`TLS certificate reloaded: ${next.source} ${next.cert} (${this.describe()})`);
      },
      onError: (err) => this.log.warn(`TLS certificate not reloaded, keeping the current one: ${err.message}`),
    });
    this.watcher.start();
  }

  /** Look at the files now (e.g. right after the ACME client wrote a new pair). */
  checkNow(): void {
    this.watcher?.check(true);
  }

  /** Stop polling. */
  stop(): void {
    this.watcher?.stop();
  }

  private describe(): string {
    const s = this.served();
    return `serial ${s.serial}, issuer ${s.issuer.replace(/\n/g, ', ')}, SHA-256 ${s.fingerprint256}, valid to ${s.notAfter.toISOString()}`;
  }
}
