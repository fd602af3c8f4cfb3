/**
 * A trusted certificate from an ACME CA (RFC 8555; Let's Encrypt by default), obtained and renewed
 * in the background with the `acme-client` library, HTTP-01 challenges only (RFC 8555 §8.3):
 *
 * - the account key (`CERTS_DIR/acme/account.key`, ECDSA P-256, 0600) is made once and reused;
 * - each order gets a new ECDSA P-256 certificate key; key (0600) and chain are written
 *   atomically (temp file, fsync, rename) to `CERTS_DIR/acme/key.pem` and `cert.pem` (and the
 *   issuing directory to `order.json`), then `onCertificate()` lets the TLS listeners pick them up;
 * - a certificate from another directory than `ACME_DIRECTORY` (staging → production), or not
 *   covering every name of `ACME_DOMAIN`, is replaced at once (and served until then);
 * - a certificate is renewed at two thirds of its lifetime (day 60 of Let's Encrypt's 90); a
 *   failed order is logged with the CA's reason and retried with exponential backoff while the
 *   last good certificate stays in service.
 *
 * Why not TLS-ALPN-01: the CA validates it on port 443 only, which the HTTPS listener rarely owns
 * (default 8443, or a reverse proxy in front), and it needs a per-handshake certificate switch;
 * HTTP-01 works on port 80 directly or through a proxy that forwards `/.well-known/acme-challenge/`.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import acme from 'acme-client';
import type log4js from 'log4js';
import { acmeCertProblem, acmePaths, readTlsPair } from '../common/tlsFiles.js';

/** Fraction of the lifetime after which a certificate is renewed. */
export const RENEW_AT_FRACTION = 2 / 3;
/** First retry delay after a failed order, ms (doubles per failure). */
export const RETRY_MIN_MS = 60_000;
/** Longest retry delay, ms (Let's Encrypt allows 5 failed validations per name per hour). */
export const RETRY_MAX_MS = 6 * 3600_000;
/** Longest single timer, ms (Node's setTimeout overflows after 2^31-1 ms ≈ 24.8 days). */
const MAX_TIMER_MS = 24 * 3600_000;
/** Timeout of each HTTP request to the CA, ms. */
const REQUEST_TIMEOUT_MS = 30_000;

/** When a certificate valid from `notBefore` to `notAfter` should be renewed. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  return new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * RENEW_AT_FRACTION);
}

/** Delay before retry number `failures` (1, 2, …): min·2^(failures−1), capped at max, ms. */
export function retryDelayMs(failures: number, minMs = RETRY_MIN_MS, maxMs = RETRY_MAX_MS): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
}

/** Write `data` to `file` so readers see the old or the new content, never a mix. */
export function writeFileAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Options of {@link AcmeManager}. */
export interface AcmeOptions {
  /** Names for the certificate (`ACME_DOMAIN`); the first is the subject's common name. */
  domains: string[];
  /** Account contact (`ACME_EMAIL`). */
  email?: string;
  /** Directory URL (`ACME_DIRECTORY`). */
  directoryUrl: string;
  /** `CERTS_DIR`; files go to its `acme/` subdirectory. */
  certsDir: string;
  logger: log4js.Logger;
  /** Called after a new pair was written (the TLS listeners reload it). Must not throw. */
  onCertificate: () => void;
  /** Retry backoff bounds, ms (defaults {@link RETRY_MIN_MS}, {@link RETRY_MAX_MS}). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** Counters and state for `/metrics` and logs. */
export interface AcmeStatus {
  ordersSucceeded: number;
  ordersFailed: number;
  /** Failures since the last success. */
  consecutiveFailures: number;
  lastSuccess: Date | undefined;
  lastError: string | undefined;
  /** When the next order is due. */
  nextAttempt: Date | undefined;
}

/** Obtains and renews the certificate; serves HTTP-01 key authorizations while an order runs. */
export class AcmeManager {
  private readonly challenges = new Map<string, string>();
  private readonly paths: ReturnType<typeof acmePaths>;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly st: AcmeStatus = { ordersSucceeded: 0, ordersFailed: 0, consecutiveFailures: 0, lastSuccess: undefined, lastError: undefined, nextAttempt: undefined };

  constructor(private readonly o: AcmeOptions) {
    this.paths = acmePaths(o.certsDir);
    acme.axios.defaults.timeout = REQUEST_TIMEOUT_MS;
    acme.setLogger((m) => o.logger.trace(`acme-client: ${m}`));
  }

  /**
   * The key authorization for an HTTP-01 token of a running order (RFC 8555 §8.3), or undefined.
   * Served as `text/plain` at `/.well-known/acme-challenge/<token>`.
   */
  keyAuthorization(token: string): string | undefined {
    return this.challenges.get(token);
  }

  /** A copy of the counters and state. */
  status(): AcmeStatus {
    return { ...this.st };
  }

  /** Check now and order a certificate if none is usable or renewal is due; then keep renewing. */
  start(): void {
    this.stopped = false;
    this.schedule(new Date());
  }

  /**
   * Stop the timer. An order in flight is not awaited (it may take a minute); if it completes, its
   * pair is still written atomically and used at the next start.
   */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(at: Date): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.st.nextAttempt = at;
    const delay = Math.max(0, at.getTime() - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (Date.now() < at.getTime()) this.schedule(at); // a long wait is split into ≤ 1-day timers
      else if (!this.running) {
        this.running = true;
        void this.run().finally(() => (this.running = false));
      }
    }, Math.min(delay, MAX_TIMER_MS));
    this.timer.unref();
  }

  /** The renewal time of the certificate on disk, or undefined when a new order is needed now. */
  private dueDate(): Date | undefined {
    try {
      const pair = readTlsPair({ cert: this.paths.cert, key: this.paths.key, source: 'acme' });
      const from = this.issuedBy();
      const problem = from !== undefined && from !== this.o.directoryUrl ? `from another ACME directory (${from})` : acmeCertProblem(pair.x509, this.o.domains);
      if (problem) {
        this.o.logger.info(`acme: the certificate in ${this.paths.cert} is ${problem}: ordering a new one`);
        return undefined;
      }
      const due = renewalTime(new Date(pair.x509.validFrom), new Date(pair.x509.validTo));
      return due.getTime() > Date.now() ? due : undefined;
    } catch {
      return undefined;
    }
  }

  private async run(): Promise<void> {
    const due = this.dueDate();
    if (due) {
      this.o.logger.info(`acme: certificate for ${this.o.domains.join(', ')} is good; renewal due ${due.toISOString()}`);
      this.schedule(due);
      return;
    }
    try {
      const x509 = await this.order();
      this.st.ordersSucceeded++;
      this.st.consecutiveFailures = 0;
      this.st.lastSuccess = new Date();
      this.st.lastError = undefined;
      const next = renewalTime(new Date(x509.validFrom), new Date(x509.validTo));
      this.o.logger.info(
        `acme: new certificate for ${this.o.domains.join(', ')} from ${x509.issuer.replace(/\n/g, ', ')} (serial ${x509.serialNumber}, valid to ${new Date(x509.validTo).toISOString()}); renewal due ${next.toISOString()}`,
      );
      this.o.onCertificate();
      this.schedule(next);
    } catch (err) {
      this.st.ordersFailed++;
      this.st.consecutiveFailures++;
      this.st.lastError = (err as Error).message;
      const delay = retryDelayMs(this.st.consecutiveFailures, this.o.retryMinMs, this.o.retryMaxMs);
      this.o.logger.warn(
        `acme: could not obtain a certificate for ${this.o.domains.join(', ')} from ${this.o.directoryUrl} (failure ${this.st.consecutiveFailures}): ${this.st.lastError}; keeping the current certificate, retrying in ${Math.round(delay / 1000)} s`,
      );
      this.schedule(new Date(Date.now() + delay));
    }
  }

  /** The directory that issued the certificate on disk (`acme/order.json`), if recorded. */
  private issuedBy(): string | undefined {
    try {
      const meta = JSON.parse(readFileSync(this.paths.meta, 'utf8')) as { directory?: unknown };
      return typeof meta.directory === 'string' ? meta.directory : undefined;
    } catch {
      return undefined;
    }
  }

  private accountKey(): Promise<Buffer> | Buffer {
    try {
      const pem = readFileSync(this.paths.accountKey);
      createPrivateKey(pem);
      return pem;
    } catch {
      return (async () => {
        const pem = await acme.crypto.createPrivateEcdsaKey('P-256');
        writeFileAtomic(this.paths.accountKey, pem.toString(), 0o600);
        this.o.logger.info(`acme: new account key ${this.paths.accountKey}`);
        return pem;
      })();
    }
  }

  /** One order: account, CSR, HTTP-01 challenges, finalize, download, check, write. */
  private async order(): Promise<X509Certificate> {
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    const client = new acme.Client({ directoryUrl: this.o.directoryUrl, accountKey: await this.accountKey(), backoffMin: 1000, backoffMax: 10_000 });
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    const [, csr] = await acme.crypto.createCsr(
      { altNames: this.o.domains, ...(this.o.domains[0]!.length <= 64 ? { commonName: this.o.domains[0] } : {}) },
      key,
    );
    this.o.logger.info(`acme: ordering a certificate for ${this.o.domains.join(', ')} from ${this.o.directoryUrl}`);
    const chain = await client.auto({
      csr,
      ...(this.o.email ? { email: this.o.email } : {}),
      // Setting ACME_DOMAIN is the operator's agreement to the CA's terms (README says so).
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The CA validates anyway; a self-check would need this host to reach itself by its public
      // name, which hairpin-less NATs and split DNS break.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        if (challenge.type !== 'http-01') throw new Error(`unsupported challenge ${challenge.type}`);
        this.challenges.set(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        this.challenges.delete(challenge.token);
      },
    });
    const x509 = new X509Certificate(chain);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('the CA returned a certificate for another key');
    const problem = acmeCertProblem(x509, this.o.domains);
    if (problem) throw new Error(`the CA returned a certificate that is ${problem}`);
    // Key first: a reader between the two renames sees a mismatching pair and keeps what it has.
    writeFileAtomic(this.paths.key, key.toString(), 0o600);
    writeFileAtomic(this.paths.cert, chain, 0o644);
    // Which CA issued it: switching ACME_DIRECTORY (staging → production) orders anew at once.
    writeFileAtomic(this.paths.meta, `${JSON.stringify({ directory: this.o.directoryUrl, domains: this.o.domains, issued: new Date().toISOString() })}\n`, 0o644);
    return x509;
  }
}
