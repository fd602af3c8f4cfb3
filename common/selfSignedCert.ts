/**
 * The self-signed certificate in `CERTS_DIR` (`server.crt`, `server.key` mode 0600), shared by the
 * web server and the standalone relay (which needs one for TURN over TLS on a host of its own): made
 * with the `selfsigned` package for `localhost`, `127.0.0.1`, `::1`, the hostname and every interface
 * address, reused while valid, regenerated when unreadable, unparsable or expiring within 7 days.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { generate } from 'selfsigned';
import { selfSignedPaths } from './tlsFiles.js';

/** A self-signed certificate is renewed when it expires within this many ms (7 days). */
export const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;
/** Validity of a generated self-signed certificate, days. */
export const SELF_SIGNED_VALIDITY_DAYS = 365;

/** A certificate and key ready for `https.createServer` / the relay's TLS listener. */
export interface TlsMaterial {
  /** PEM certificate (chain). */
  cert: string;
  /** PEM private key. */
  key: string;
  certPath: string;
  keyPath: string;
  /** SHA-256 fingerprint of the leaf certificate, `AA:BB:…`. */
  fingerprint256: string;
  /** Expiry of the leaf certificate. */
  validTo: Date;
  /** True when the files come from `CERTS_DIR` (self-signed), false for `TLS_CERT`/`TLS_KEY`. */
  selfSigned: boolean;
  /** True when this call generated a new certificate. */
  generated: boolean;
}

/** Names the self-signed certificate is valid for: localhost, loopback, hostname, interface addresses. */
export function selfSignedNames(): { dns: string[]; ips: string[] } {
  const dns = new Set<string>(['localhost']);
  const host = hostname();
  if (/^[A-Za-z0-9.-]{1,253}$/.test(host)) dns.add(host);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local IPv6 addresses carry a zone and cannot be certificate names.
      if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')) continue;
      ips.add(a.address);
    }
  }
  return { dns: [...dns], ips: [...ips] };
}

/**
 * Read a PEM certificate and key and check that the key belongs to the certificate.
 * @throws Error when a file is unreadable or unparsable, or the pair does not match.
 */
export function readMaterial(certPath: string, keyPath: string): { cert: string; key: string; x509: X509Certificate } {
  const cert = readFileSync(certPath, 'utf8');
  const key = readFileSync(keyPath, 'utf8');
  const x509 = new X509Certificate(cert);
  const pk = createPrivateKey(key);
  if (!x509.checkPrivateKey(pk)) throw new Error(`${keyPath} does not match ${certPath}`);
  return { cert, key, x509 };
}

function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/**
 * Generate a self-signed certificate into `dir` (`server.crt` 0644, `server.key` 0600).
 * RSA 2048, SHA-256, valid {@link SELF_SIGNED_VALIDITY_DAYS} days; SANs from {@link selfSignedNames}.
 * @throws Error from the file system when `dir` is not writable.
 */
export async function generateSelfSigned(dir: string): Promise<TlsMaterial> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { dns, ips } = selfSignedNames();
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + SELF_SIGNED_VALIDITY_DAYS * 24 * 3600 * 1000);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'webrtc-call self-signed' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...dns.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  const { cert: certPath, key: keyPath } = selfSignedPaths(dir);
  writeAtomic(keyPath, pems.private, 0o600);
  writeAtomic(certPath, pems.cert, 0o644);
  const x509 = new X509Certificate(pems.cert);
  return {
    cert: pems.cert,
    key: pems.private,
    certPath,
    keyPath,
    fingerprint256: x509.fingerprint256,
    validTo: new Date(x509.validTo),
    selfSigned: true,
    generated: true,
  };
}

/**
 * The self-signed pair in `certsDir`, generated or renewed when needed (see the module comment).
 * @param options.forceRenew  regenerate even if still valid.
 * @throws Error from the file system when `certsDir` is not writable.
 */
export async function ensureSelfSigned(certsDir: string, options: { forceRenew?: boolean; now?: Date } = {}): Promise<TlsMaterial> {
  const now = options.now ?? new Date();
  const { cert: certPath, key: keyPath } = selfSignedPaths(certsDir);
  if (!options.forceRenew) {
    try {
      const m = readMaterial(certPath, keyPath);
      const validTo = new Date(m.x509.validTo);
      if (validTo.getTime() - now.getTime() > RENEW_BEFORE_MS) {
        return { cert: m.cert, key: m.key, certPath, keyPath, fingerprint256: m.x509.fingerprint256, validTo, selfSigned: true, generated: false };
      }
    } catch {
      // Missing, unreadable or broken: generate a new one below.
    }
  }
  return generateSelfSigned(certsDir);
}
