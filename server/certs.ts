/**
 * TLS certificates for the HTTPS server (which pair is served, ACME included, is decided by
 * `common/tlsFiles.ts`; this file checks configured files and keeps the self-signed fallback).
 *
 * - `TLS_CERT` + `TLS_KEY` set: those PEM files are used as they are (a real certificate).
 * - Otherwise a self-signed certificate is kept in `CERTS_DIR` (`server.crt`, `server.key` with
 *   mode 0600). It is generated with the `selfsigned` package on first start, for `localhost`,
 *   `127.0.0.1`, `::1`, the machine's hostname and every interface address, and reused afterwards;
 *   it is regenerated when it is unreadable, unparsable, or expires within 7 days.
 */
import { ensureSelfSigned, readMaterial, type TlsMaterial } from '../common/selfSignedCert.js';
import type { Env } from '../contracts/config.js';

export { RENEW_BEFORE_MS, SELF_SIGNED_VALIDITY_DAYS, generateSelfSigned, selfSignedNames, type TlsMaterial } from '../common/selfSignedCert.js';

/**
 * Load the configured certificate, or the self-signed one from `CERTS_DIR` (generating or renewing it).
 * @param options.forceRenew  regenerate the self-signed certificate even if it is still valid (`npm run certs -- --renew`).
 * @throws Error when `TLS_CERT`/`TLS_KEY` are set but unreadable, unparsable or do not match
 *         (real certificates are never replaced silently).
 */
export async function ensureCertificates(
  config: Pick<Env, 'TLS_CERT' | 'TLS_KEY' | 'CERTS_DIR'>,
  options: { forceRenew?: boolean; now?: Date } = {},
): Promise<TlsMaterial> {
  if (config.TLS_CERT && config.TLS_KEY) {
    let m;
    try {
      m = readMaterial(config.TLS_CERT, config.TLS_KEY);
    } catch (err) {
      throw new Error(`TLS_CERT/TLS_KEY: cannot use ${config.TLS_CERT} and ${config.TLS_KEY}: ${(err as Error).message}`);
    }
    return {
      cert: m.cert,
      key: m.key,
      certPath: config.TLS_CERT,
      keyPath: config.TLS_KEY,
      fingerprint256: m.x509.fingerprint256,
      validTo: new Date(m.x509.validTo),
      selfSigned: false,
      generated: false,
    };
  }
  return ensureSelfSigned(config.CERTS_DIR, options);
}
