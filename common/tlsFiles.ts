/**
 * Which certificate and key files are in use, decided in one place so the web server and the
 * relay's TLS listener always agree, and read back as a matching pair.
 *
 * Order of precedence:
 * 1. relay only: `TURN_TLS_CERT` + `TURN_TLS_KEY`;
 * 2. `TLS_CERT` + `TLS_KEY` (e.g. certbot's `fullchain.pem`/`privkey.pem`);
 * 3. with `ACME_DOMAIN`: `CERTS_DIR/acme/cert.pem` + `key.pem` when they are a matching pair, not
 *    expired, and valid for every configured name;
 * 4. the self-signed `CERTS_DIR/server.crt` + `server.key`.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Env } from '../contracts/config.js';

/** Where a certificate comes from. */
export type TlsSource = 'turn-tls' | 'configured' | 'acme' | 'self-signed';

/** A certificate/key file pair. */
export interface TlsFiles {
  cert: string;
  key: string;
  source: TlsSource;
}

/** A certificate and key read from disk and checked to belong together. */
export interface TlsPair extends TlsFiles {
  /** PEM certificate chain (leaf first). */
  certPem: string;
  /** PEM private key. */
  keyPem: string;
  /** The leaf certificate. */
  x509: X509Certificate;
}

/** Settings {@link chooseTlsFiles} reads. */
export type TlsFileSettings = Pick<Env, 'TLS_CERT' | 'TLS_KEY' | 'CERTS_DIR' | 'ACME_DOMAIN'> & Partial<Pick<Env, 'TURN_TLS_CERT' | 'TURN_TLS_KEY'>>;

/** Files the ACME client keeps in `certsDir/acme/`: account key, certificate chain, its key, and which directory issued it. */
export function acmePaths(certsDir: string): { dir: string; accountKey: string; cert: string; key: string; meta: string } {
  const dir = path.join(certsDir, 'acme');
  return { dir, accountKey: path.join(dir, 'account.key'), cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), meta: path.join(dir, 'order.json') };
}

/** The self-signed pair in `certsDir`. */
export function selfSignedPaths(certsDir: string): { cert: string; key: string } {
  return { cert: path.join(certsDir, 'server.crt'), key: path.join(certsDir, 'server.key') };
}

/**
 * Read a certificate chain and its key and check they match.
 * @throws Error when a file is unreadable or unparsable, or the key does not belong to the leaf.
 */
export function readTlsPair(files: TlsFiles): TlsPair {
  const certPem = readFileSync(files.cert, 'utf8');
  const keyPem = readFileSync(files.key, 'utf8');
  const x509 = new X509Certificate(certPem);
  if (!x509.checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${files.key} does not match ${files.cert}`);
  return { ...files, certPem, keyPem, x509 };
}

/**
 * Why an ACME certificate cannot be served for `names` at `now`, or undefined when it can.
 * (Not yet valid, expired, or missing one of the names.)
 */
export function acmeCertProblem(x509: X509Certificate, names: readonly string[], now = new Date()): string | undefined {
  if (new Date(x509.validTo).getTime() <= now.getTime()) return `expired on ${new Date(x509.validTo).toISOString()}`;
  if (new Date(x509.validFrom).getTime() > now.getTime() + 5 * 60_000) return `not valid before ${new Date(x509.validFrom).toISOString()}`;
  const missing = names.filter((n) => x509.checkHost(n, { subject: 'never' }) === undefined);
  if (missing.length > 0) return `not valid for ${missing.join(', ')}`;
  return undefined;
}

/**
 * The pair to serve right now, read and checked (see the module comment for the order).
 * @param role  'relay' also honours TURN_TLS_CERT/TURN_TLS_KEY.
 * @returns undefined when nothing usable exists (the self-signed pair not generated yet).
 * @throws Error when configured files (TURN_TLS_*, TLS_*) are unusable: those are never replaced silently.
 */
export function chooseTlsFiles(cfg: TlsFileSettings, role: 'web' | 'relay', now = new Date()): TlsPair | undefined {
  if (role === 'relay' && cfg.TURN_TLS_CERT && cfg.TURN_TLS_KEY) return readTlsPair({ cert: cfg.TURN_TLS_CERT, key: cfg.TURN_TLS_KEY, source: 'turn-tls' });
  if (cfg.TLS_CERT && cfg.TLS_KEY) return readTlsPair({ cert: cfg.TLS_CERT, key: cfg.TLS_KEY, source: 'configured' });
  if (cfg.ACME_DOMAIN && cfg.ACME_DOMAIN.length > 0) {
    const acme = acmePaths(cfg.CERTS_DIR);
    try {
      const pair = readTlsPair({ cert: acme.cert, key: acme.key, source: 'acme' });
      if (acmeCertProblem(pair.x509, cfg.ACME_DOMAIN, now) === undefined) return pair;
    } catch {
      // None yet, or caught between the two renames of a renewal: the self-signed pair for now.
    }
  }
  try {
    return readTlsPair({ ...selfSignedPaths(cfg.CERTS_DIR), source: 'self-signed' });
  } catch {
    return undefined;
  }
}

/** Every file {@link chooseTlsFiles} may read for `role` (what a watcher should stat). */
export function candidateTlsFiles(cfg: TlsFileSettings, role: 'web' | 'relay'): string[] {
  if (role === 'relay' && cfg.TURN_TLS_CERT && cfg.TURN_TLS_KEY) return [cfg.TURN_TLS_CERT, cfg.TURN_TLS_KEY];
  if (cfg.TLS_CERT && cfg.TLS_KEY) return [cfg.TLS_CERT, cfg.TLS_KEY];
  const self = selfSignedPaths(cfg.CERTS_DIR);
  if (!cfg.ACME_DOMAIN || cfg.ACME_DOMAIN.length === 0) return [self.cert, self.key];
  const acme = acmePaths(cfg.CERTS_DIR);
  return [acme.cert, acme.key, self.cert, self.key];
}
